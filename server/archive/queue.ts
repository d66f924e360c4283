// Handing stable studies to the archive, and re-deriving archive jobs from the database. The
// StudyArchive rows are the truth: a job lost with Redis is queued again by the periodic sweep.
import { getQueue } from "@/server/queues";
import type { PrismaClient } from "@/server/db/generated/client";
import { archiveJobId } from "@/lib/archive/state";
import { childLog } from "@/lib/log";

const log = childLog("archive");

/** Retries are the state machine's (failed → nextAttemptAt → sweep), not BullMQ's. */
export const ARCHIVE_JOB_OPTIONS = { attempts: 1, removeOnComplete: true, removeOnFail: true };

/** An attempt still sending or verifying without progress for this long is taken to be lost (worker or Redis gone). */
export const STALLED_AFTER_MS = 10 * 60_000;

export async function queueArchiveJob(studyId: string, queuedAt: Date, attempt: number): Promise<void> {
  await getQueue("archive").add("archive", { studyId, attempt }, { ...ARCHIVE_JOB_OPTIONS, jobId: archiveJobId(studyId, queuedAt, attempt) });
}

/**
 * Stable studies become queued archives (a new StudyArchive, or the existing one re-queued after
 * new instances arrived: it merges into the same experiment). A study whose archive is sending or
 * verifying right now waits for it to end. Returns how many were handed on.
 */
export async function handStableStudies(prisma: PrismaClient, now = new Date()): Promise<number> {
  const stable = await prisma.intakeStudy.findMany({
    where: { status: "stable", OR: [{ archive: null }, { archive: { state: { notIn: ["sending", "verifying"] } } }] },
    select: { id: true, projectId: true, project: { select: { archiveTarget: { select: { kind: true } } } } },
    take: 500,
    orderBy: { stableAt: "asc" },
  });
  let handed = 0;
  for (const s of stable) {
    // No target row: the built-in local archive.
    const targetKind = s.project.archiveTarget?.kind ?? "local";
    const row = await prisma.$transaction(async (tx) => {
      const claimed = await tx.intakeStudy.updateMany({ where: { id: s.id, status: "stable" }, data: { status: "archiving" } });
      if (!claimed.count) return null;
      const data = { state: "queued" as const, targetKind, attempts: 0, lastError: null, nextAttemptAt: null, queuedAt: now, startedAt: null, doneBytes: 0n, totalBytes: 0n };
      return tx.studyArchive.upsert({ where: { studyId: s.id }, create: { studyId: s.id, projectId: s.projectId, ...data }, update: data });
    });
    if (!row) continue;
    handed++;
    await queueArchiveJob(row.studyId, row.queuedAt, 1).catch((e: Error) => log.warn({ studyId: row.studyId, error: e.name }, "could not queue the archive job; the sweep will"));
  }
  if (handed) log.info({ studies: handed }, "studies handed to the archive");
  return handed;
}

/**
 * Re-derives archive jobs from the database: queued archives, failed ones whose retry is due, and
 * attempts that stalled (their worker or Redis was lost). Job ids make a job that is still queued
 * or running count once.
 */
export async function requeueArchives(prisma: PrismaClient, now = new Date()): Promise<number> {
  const rows = await prisma.studyArchive.findMany({
    where: {
      OR: [
        { state: "queued" },
        { state: "failed", nextAttemptAt: { lte: now } },
        { state: { in: ["sending", "verifying"] }, updatedAt: { lt: new Date(now.getTime() - STALLED_AFTER_MS) } },
      ],
    },
    select: { studyId: true, state: true, attempts: true, queuedAt: true },
    take: 1000,
  });
  if (!rows.length) return 0;
  await getQueue("archive").addBulk(
    rows.map((r) => {
      // queued and failed: the next attempt; sending/verifying: the attempt in progress, resumed.
      const attempt = r.state === "queued" || r.state === "failed" ? r.attempts + 1 : r.attempts;
      return { name: "archive", data: { studyId: r.studyId, attempt }, opts: { ...ARCHIVE_JOB_OPTIONS, jobId: archiveJobId(r.studyId, r.queuedAt, attempt) } };
    }),
  );
  return rows.length;
}

/** The periodic step: hand stable studies on, then re-queue what the database says is pending. */
export async function sweepArchives(prisma: PrismaClient, now = new Date()): Promise<{ handed: number; requeued: number }> {
  const handed = await handStableStudies(prisma, now);
  const requeued = await requeueArchives(prisma, now);
  return { handed, requeued };
}
