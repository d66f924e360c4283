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
import type { QuarantineFilter, QuarantineSort } from "@/lib/intake/settings";
import { cutPage } from "@/lib/portal/paging";
import { sopClassModality, sopClassName, transferSyntaxName } from "@/lib/dicom/sop-classes";
import { dataDir } from "@/lib/config";
import { requeueDeid } from "./queue";
import { rowDetails } from "./row-details";
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

/** The rows of a quarantine (a project's, or with `projectId` null the unrouted one) matching a filter. */
export function quarantineWhere(projectId: string | null, filter: QuarantineFilter): Prisma.ReceivedInstanceWhereInput {
  return {
    projectId,
    status: "quarantined",
    ...(filter.reasonCode ? { reasonCode: filter.reasonCode === "unknown" ? null : filter.reasonCode } : {}),
    ...(filter.channel ? { channel: filter.channel } : {}),
    ...(filter.from || filter.to ? { receivedAt: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lt: filter.to } : {}) } } : {}),
  };
}

const QUARANTINE_ORDER: Record<QuarantineSort, Prisma.ReceivedInstanceOrderByWithRelationInput[]> = {
  newest: [{ receivedAt: "desc" }, { id: "desc" }],
  oldest: [{ receivedAt: "asc" }, { id: "asc" }],
  largest: [{ sizeBytes: "desc" }, { id: "desc" }],
};

/**
 * One page of a quarantine (cursor paging on the server: the cursor is the last row's id), the
 * total matching the filters, and what each row is (SOP class, modality, transfer syntax, the
 * association or batch it came with) without any header value.
 */
export async function listQuarantine(
  prisma: PrismaClient,
  projectId: string | null,
  input: QuarantineFilter & { cursor?: string; limit: number; sort?: QuarantineSort },
) {
  const where = quarantineWhere(projectId, input);
  const [rows, total, codes] = await Promise.all([
    prisma.receivedInstance.findMany({
      where,
      orderBy: QUARANTINE_ORDER[input.sort ?? "newest"],
      take: input.limit + 1,
      ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
      select: {
        id: true, receivedAt: true, channel: true, callingAe: true, calledAe: true, reason: true, reasonCode: true, sizeBytes: true,
        sopClassUid: true, transferSyntaxUid: true, batchId: true, stagingPath: true,
      },
    }),
    prisma.receivedInstance.count({ where }),
    prisma.receivedInstance.groupBy({ by: ["reasonCode"], where: { projectId, status: "quarantined" }, _count: { _all: true } }),
  ]);
  const page = cutPage(rows, input.limit);
  const details = rowDetails(dataDir(), page.items);
  return {
    items: page.items.map(({ sopClassUid, transferSyntaxUid, batchId, stagingPath: _staged, ...r }) => ({
      ...r,
      sopClass: sopClassName(sopClassUid),
      modality: details.get(r.id)?.modality ?? sopClassModality(sopClassUid),
      /** Short tags of the study and series (hashes of their UIDs: rows of one series share them), series and instance numbers. */
      study: details.get(r.id)?.study ?? null,
      series: details.get(r.id)?.series ?? null,
      seriesNumber: details.get(r.id)?.seriesNumber ?? null,
      instanceNumber: details.get(r.id)?.instanceNumber ?? null,
      transferSyntax: transferSyntaxName(transferSyntaxUid),
      /** A short tag of the association / request / batch it arrived with (instances sent together share it). */
      batch: batchId.slice(-8),
    })),
    nextCursor: page.nextCursor,
    total,
    /** When this page was read: "select all matching" acts on rows received until then. */
    asOf: new Date(),
    /** Counts per reason code over the whole quarantine (for the filter's choices). */
    reasonCodes: codes.map((c) => ({ code: c.reasonCode ?? "unknown", count: c._count._all })).sort((a, b) => b.count - a.count),
  };
}

/**
 * The original (identifying) header: PHI. The caller has checked the actor may see it (the project's
 * owners, site admins). The view is audited before anything is read, with what was looked at (never
 * a header value); the site admins' audit view (admin.audit) lists these views across projects.
 */
export async function viewOriginalHeader(prisma: PrismaClient, dataDir: string, inst: Instance, actorId: string) {
  await writeAudit(prisma, {
    projectId: inst.projectId,
    actorId,
    action: "intake.header.view",
    targetType: "instance",
    targetId: inst.id,
    after: { reasonCode: inst.reasonCode, channel: inst.channel },
  });
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
