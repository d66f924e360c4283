// "Retry these failed archives": the next BULK_CHUNK failed studies of a selection (picked across
// pages, or every failed study queued no later than when the list was loaded, minus those
// unticked) are queued again in one transaction, audited per study like a single retry. The
// portal repeats the call until none remain and shows the progress. Access: the caller
// (projectProcedure("owner")).
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { getQueue } from "@/server/queues";
import { archiveJobId } from "@/lib/archive/state";
import { BULK_CHUNK } from "@/lib/portal/paging";
import type { RetryArchivesInput } from "@/lib/archive/schema";
import { ARCHIVE_JOB_OPTIONS } from "./queue";

function selectionWhere(projectId: string, sel: RetryArchivesInput["selection"]): Prisma.StudyArchiveWhereInput {
  // Only failed archives can be retried, whatever the filter said.
  if (sel.kind === "ids") return { projectId, state: "failed", studyId: { in: sel.ids } };
  return {
    projectId,
    state: "failed",
    queuedAt: { lte: sel.asOf },
    ...(sel.except.length ? { studyId: { notIn: sel.except } } : {}),
  };
}

export async function retryArchives(prisma: PrismaClient, projectId: string, sel: RetryArchivesInput["selection"], actorId: string, now = new Date()) {
  const where = selectionWhere(projectId, sel);
  const picked = await prisma.studyArchive.findMany({ where, orderBy: { studyId: "asc" }, take: BULK_CHUNK, select: { studyId: true } });
  let queued: string[] = [];
  if (picked.length) {
    queued = await prisma.$transaction(async (tx) => {
      const ids = picked.map((p) => p.studyId);
      // The rows still failed (a worker or a single retry may have moved some meanwhile).
      const still = await tx.studyArchive.findMany({ where: { projectId, state: "failed", studyId: { in: ids } }, select: { studyId: true } });
      const rowIds = still.map((s) => s.studyId);
      if (!rowIds.length) return rowIds;
      await tx.studyArchive.updateMany({
        where: { projectId, state: "failed", studyId: { in: rowIds } },
        data: { state: "queued", attempts: 0, nextAttemptAt: null, queuedAt: now, doneBytes: 0n },
      });
      await tx.intakeStudy.updateMany({ where: { id: { in: rowIds }, status: "failed" }, data: { status: "archiving" } });
      await tx.auditEvent.createMany({
        data: rowIds.map((id) => ({ projectId, actorId, action: "archive.retry", targetType: "study", targetId: id, before: { state: "failed" }, after: { state: "queued", bulk: true } })),
      });
      return rowIds;
    });
    // If Redis is unavailable the rows stay queued and the periodic sweep queues them.
    await getQueue("archive")
      .addBulk(queued.map((studyId) => ({ name: "archive", data: { studyId, attempt: 1 }, opts: { ...ARCHIVE_JOB_OPTIONS, jobId: archiveJobId(studyId, now, 1) } })))
      .catch(() => undefined);
  }
  const remaining = await prisma.studyArchive.count({ where });
  return { done: queued.length, remaining };
}
