// Bulk actions on a project's quarantine: retry, route to another project, delete. One call acts on
// at most BULK_CHUNK rows of the selection (rows picked across pages, or every row matching the
// filters as of when the list was loaded, minus those unticked) in one transaction, audited per
// instance like the single actions, and says how many remain; the portal repeats it and shows
// the progress. Access is decided by the caller (projectProcedure("owner"), and ownership of
// the target project for a route).
import { rmSync } from "node:fs";
import path from "node:path";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { BULK_CHUNK } from "@/lib/portal/paging";
import type { BulkQuarantineInput, QuarantineSelection } from "@/lib/intake/settings";
import { quarantineWhere } from "./quarantine";
import { requeueDeidMany } from "./queue";

function selectionWhere(projectId: string, sel: QuarantineSelection): Prisma.ReceivedInstanceWhereInput {
  if (sel.kind === "ids") return { projectId, status: "quarantined", id: { in: sel.ids } };
  const base = quarantineWhere(projectId, sel.filter);
  return {
    AND: [
      base,
      { receivedAt: { lte: sel.asOf } },
      // A row changed since the list was loaded (retried and quarantined again by the worker while
      // this action runs, or acted on by someone else) is not the row the user saw: leave it, so a
      // retry of "every matching row" ends instead of retrying what it just retried.
      { updatedAt: { lte: sel.asOf } },
      ...(sel.except.length ? [{ id: { notIn: sel.except } }] : []),
    ],
  };
}

export interface BulkResult {
  /** Instances acted on by this call. */
  done: number;
  /** Instances of the selection still in quarantine (the next calls act on them). */
  remaining: number;
}

/** Retries, routes or deletes the next BULK_CHUNK instances of the selection. */
export async function bulkQuarantine(prisma: PrismaClient, dataDir: string, input: BulkQuarantineInput, actorId: string): Promise<BulkResult> {
  const { projectId, action, selection } = input;
  const where = selectionWhere(projectId, selection);
  const picked = await prisma.receivedInstance.findMany({
    where,
    orderBy: { id: "asc" },
    take: BULK_CHUNK,
    select: { id: true, reason: true, reasonCode: true, sizeBytes: true, sha256: true, receivedAt: true, stagingPath: true },
  });
  let acted: typeof picked = [];
  if (picked.length) {
    acted = await prisma.$transaction(async (tx) => {
      const ids = picked.map((p) => p.id);
      // Only rows still quarantined in this project: a concurrent single action wins.
      const still = await tx.receivedInstance.findMany({ where: { id: { in: ids }, projectId, status: "quarantined" }, select: { id: true } });
      const ok = new Set(still.map((s) => s.id));
      const rows = picked.filter((p) => ok.has(p.id));
      const rowIds = rows.map((r) => r.id);
      if (!rows.length) return rows;
      if (action === "retry") {
        await tx.receivedInstance.updateMany({ where: { id: { in: rowIds } }, data: { status: "received", reason: null, reasonCode: null } });
        await tx.instanceEvent.createMany({ data: rows.map((r) => ({ instanceId: r.id, step: "retry", detail: { by: actorId, previousReason: r.reason, bulk: true } })) });
        await tx.auditEvent.createMany({
          data: rows.map((r) => ({ projectId, actorId, action: "intake.retry", targetType: "instance", targetId: r.id, before: { reason: r.reason }, after: { bulk: true } })),
        });
      } else if (action === "route") {
        const to = input.targetProjectId!;
        await tx.receivedInstance.updateMany({ where: { id: { in: rowIds } }, data: { projectId: to, status: "received", reason: null, reasonCode: null } });
        await tx.instanceEvent.createMany({
          data: rows.map((r) => ({ instanceId: r.id, step: "routed", detail: { from: projectId, projectId: to, by: actorId, previousReason: r.reason, bulk: true } })),
        });
        await tx.auditEvent.createMany({
          data: rows.flatMap((r) => {
            const detail = { from: projectId, to, reason: r.reason, reasonCode: r.reasonCode, bulk: true };
            return [
              { projectId, actorId, action: "intake.route.out", targetType: "instance", targetId: r.id, before: detail },
              { projectId: to, actorId, action: "intake.route.in", targetType: "instance", targetId: r.id, after: detail },
            ];
          }),
        });
      } else {
        await tx.receivedInstance.deleteMany({ where: { id: { in: rowIds } } });
        await tx.auditEvent.createMany({
          data: rows.map((r) => ({
            projectId, actorId, action: "intake.delete", targetType: "instance", targetId: r.id,
            before: { reason: r.reason, reasonCode: r.reasonCode, sizeBytes: r.sizeBytes, sha256: r.sha256, receivedAt: r.receivedAt.toISOString(), bulk: true },
          })),
        });
      }
      return rows;
    });
    if (action === "delete") for (const r of acted) rmSync(path.join(dataDir, r.stagingPath), { force: true });
    // If Redis is unavailable the instances stay "received" and the periodic sweep queues them.
    else await requeueDeidMany(acted.map((r) => r.id)).catch(() => undefined);
  }
  const remaining = await prisma.receivedInstance.count({ where });
  return { done: acted.length, remaining };
}
