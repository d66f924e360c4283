// Acting on quarantined instances: list with filters, retry, route to a project, re-run routing,
// delete, and the audited view of the original header. Shared by the project procedures (owners)
// and the site admins' view of instances no project accepted. Access is decided by the callers
// (projectProcedure / adminProcedure); these functions only do the work, and audit it.
import { rmSync } from "node:fs";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import type { PrismaClient, Prisma } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import { openSource } from "@/lib/dicom/source";
import { headerRows } from "@/lib/dicom/header-view";
import type { QuarantineFilter } from "@/lib/intake/settings";
import { requeueDeid } from "./queue";
import { resolveRoute } from "./routing";

type Instance = Awaited<ReturnType<PrismaClient["receivedInstance"]["findFirstOrThrow"]>>;

/** `projectId` null: the instances no project accepted. */
export async function quarantinedInstance(prisma: PrismaClient, projectId: string | null, instanceId: string): Promise<Instance> {
  const inst = await prisma.receivedInstance.findFirst({ where: { id: instanceId, projectId, status: "quarantined" } });
  if (!inst) {
    throw new TRPCError({
      code: "NOT_FOUND",
      message: projectId ? "No such quarantined instance in this project. Reload the quarantine list." : "No such unrouted instance. Reload the list.",
    });
  }
  return inst;
}

export async function listQuarantine(
  prisma: PrismaClient,
  projectId: string | null,
  input: QuarantineFilter & { cursor?: string; limit: number },
) {
  const where: Prisma.ReceivedInstanceWhereInput = {
    projectId,
    status: "quarantined",
    ...(input.reasonCode ? { reasonCode: input.reasonCode === "unknown" ? null : input.reasonCode } : {}),
    ...(input.channel ? { channel: input.channel } : {}),
    ...(input.from || input.to ? { receivedAt: { ...(input.from ? { gte: input.from } : {}), ...(input.to ? { lt: input.to } : {}) } } : {}),
  };
  const [rows, total, codes] = await Promise.all([
    prisma.receivedInstance.findMany({
      where,
      orderBy: [{ receivedAt: "desc" }, { id: "desc" }],
      take: input.limit + 1,
      ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
      select: { id: true, receivedAt: true, channel: true, callingAe: true, calledAe: true, reason: true, reasonCode: true, sizeBytes: true },
    }),
    prisma.receivedInstance.count({ where }),
    prisma.receivedInstance.groupBy({ by: ["reasonCode"], where: { projectId, status: "quarantined" }, _count: { _all: true } }),
  ]);
  return {
    items: rows.slice(0, input.limit),
    nextCursor: rows.length > input.limit ? rows[input.limit - 1]!.id : null,
    total,
    /** Counts per reason code over the whole quarantine (for the filter's choices). */
    reasonCodes: codes.map((c) => ({ code: c.reasonCode ?? "unknown", count: c._count._all })).sort((a, b) => b.count - a.count),
  };
}

/** The original (identifying) header: the caller has checked the actor may see it; the view is audited. */
export async function viewOriginalHeader(prisma: PrismaClient, dataDir: string, inst: Instance, actorId: string) {
  await writeAudit(prisma, { projectId: inst.projectId, actorId, action: "intake.header.view", targetType: "instance", targetId: inst.id });
  let source;
  try {
    source = openSource(path.join(dataDir, inst.stagingPath));
  } catch {
    return { error: "The quarantined file is missing from staging." };
  }
  try {
    return headerRows(source);
  } finally {
    source.close?.();
  }
}

/** Sends a quarantined instance through de-identification again, in the project it is in. */
export async function retryInstance(prisma: PrismaClient, inst: Instance, actorId: string) {
  await prisma.$transaction(async (tx) => {
    await tx.receivedInstance.update({
      where: { id: inst.id },
      data: { status: "received", reason: null, reasonCode: null, events: { create: { step: "retry", detail: { by: actorId, previousReason: inst.reason } } } },
    });
    await writeAudit(tx, { projectId: inst.projectId, actorId, action: "intake.retry", targetType: "instance", targetId: inst.id, before: { reason: inst.reason } });
  });
  await requeueDeid(inst.id);
  return { queued: true };
}

/**
 * Moves a quarantined instance into `targetProjectId` (the caller has checked the actor owns it)
 * and queues its de-identification there; audited on both projects (the source may be none).
 */
export async function routeInstanceToProject(prisma: PrismaClient, inst: Instance, targetProjectId: string, actorId: string) {
  if (inst.projectId === targetProjectId) {
    throw new TRPCError({ code: "BAD_REQUEST", message: "The instance is already in this project. Use Retry to send it through de-identification again." });
  }
  await prisma.$transaction(async (tx) => {
    const moved = await tx.receivedInstance.updateMany({
      where: { id: inst.id, status: "quarantined", projectId: inst.projectId },
      data: { projectId: targetProjectId, status: "received", reason: null, reasonCode: null },
    });
    if (!moved.count) throw new TRPCError({ code: "CONFLICT", message: "The instance changed meanwhile (retried, routed or deleted). Reload the list." });
    await tx.instanceEvent.create({ data: { instanceId: inst.id, step: "routed", detail: { from: inst.projectId, projectId: targetProjectId, by: actorId, previousReason: inst.reason } } });
    const detail = { from: inst.projectId, to: targetProjectId, reason: inst.reason, reasonCode: inst.reasonCode };
    await writeAudit(tx, { projectId: inst.projectId, actorId, action: "intake.route.out", targetType: "instance", targetId: inst.id, before: detail });
    await writeAudit(tx, { projectId: targetProjectId, actorId, action: "intake.route.in", targetType: "instance", targetId: inst.id, after: detail });
  });
  await requeueDeid(inst.id);
  return { projectId: targetProjectId, queued: true };
}

/** For an instance no project accepted: runs the site routing rules again (after rules changed). */
export async function rerouteUnrouted(prisma: PrismaClient, dataDir: string, inst: Instance, actorId: string) {
  const route = await resolveRoute(prisma, { site: true }, { path: path.join(dataDir, inst.stagingPath), sizeBytes: inst.sizeBytes, sha256: inst.sha256 });
  if (route.quarantine) {
    await writeAudit(prisma, { projectId: null, actorId, action: "intake.reroute", targetType: "instance", targetId: inst.id, after: { matched: false } });
    return { routed: false as const, reason: route.quarantine.reason };
  }
  await routeInstanceToProject(prisma, inst, route.projectId, actorId);
  return { routed: true as const, projectId: route.projectId };
}

/** Deletes a quarantined instance and its staged file for good; the audit log keeps that it happened. */
export async function deleteInstance(prisma: PrismaClient, dataDir: string, inst: Instance, actorId: string) {
  await prisma.$transaction(async (tx) => {
    await tx.receivedInstance.delete({ where: { id: inst.id } });
    await writeAudit(tx, {
      projectId: inst.projectId,
      actorId,
      action: "intake.delete",
      targetType: "instance",
      targetId: inst.id,
      before: { reason: inst.reason, reasonCode: inst.reasonCode, sizeBytes: inst.sizeBytes, sha256: inst.sha256, receivedAt: inst.receivedAt.toISOString() },
    });
  });
  rmSync(path.join(dataDir, inst.stagingPath), { force: true });
  return { deleted: true };
}
