// Handing studies to forward destinations, and re-deriving forward jobs from the database (the
// StudyForward rows are the truth, as StudyArchive rows are for the archive). A study is handed to
// each enabled destination of its project when it is archived (or stable, by the destination's
// trigger), and again when it has more instances than at the last hand-off.
import { getQueue } from "@/server/queues";
import type { PrismaClient } from "@/server/db/generated/client";
import { forwardJobId, isDoneState } from "@/lib/forward/state";
import { STALLED_AFTER_MS } from "@/server/archive/queue";
import { childLog } from "@/lib/log";

const log = childLog("forward");
export const FORWARD_JOB_OPTIONS = { attempts: 1, removeOnComplete: true, removeOnFail: true };

export async function queueForwardJob(forwardId: string, queuedAt: Date, attempt: number): Promise<void> {
  await getQueue("forward").add("forward", { forwardId, attempt }, { ...FORWARD_JOB_OPTIONS, jobId: forwardJobId(forwardId, queuedAt, attempt) });
}

/** Creates or re-queues StudyForward rows for studies due to each enabled destination; returns how many. */
export async function handForwards(prisma: PrismaClient, now = new Date(), onlyDestinationId?: string): Promise<number> {
  const dests = await prisma.forwardDestination.findMany({ where: { enabled: true, ...(onlyDestinationId ? { id: onlyDestinationId } : {}) }, select: { id: true, projectId: true, trigger: true } });
  let handed = 0;
  for (const d of dests) {
    const statuses = d.trigger === "stable" ? (["stable", "archiving", "archived", "failed"] as const) : (["archived"] as const);
    const studies = await prisma.intakeStudy.findMany({
      where: { projectId: d.projectId, status: { in: [...statuses] } },
      select: { id: true, instanceCount: true, forwards: { where: { destinationId: d.id }, select: { id: true, state: true, handedInstances: true } } },
      take: 1000,
    });
    for (const s of studies) {
      const f = s.forwards[0];
      if (f && (f.state === "sending" || f.state === "queued" || (isDoneState(f.state) && f.handedInstances >= s.instanceCount) || f.state === "failed")) continue;
      const data = { state: "queued" as const, attempts: 0, lastError: null, nextAttemptAt: null, queuedAt: now, startedAt: null, done: 0, total: 0, verification: null };
      const row = await prisma.studyForward.upsert({
        where: { destinationId_studyId: { destinationId: d.id, studyId: s.id } },
        create: { destinationId: d.id, studyId: s.id, projectId: d.projectId, ...data },
        update: data,
      });
      handed++;
      await queueForwardJob(row.id, row.queuedAt, 1).catch((e: Error) => log.warn({ forwardId: row.id, error: e.name }, "could not queue the forward job; the sweep will"));
    }
  }
  return handed;
}

/** Queued forwards, failed ones whose retry is due, and stalled attempts go back to the queue. */
export async function requeueForwards(prisma: PrismaClient, now = new Date()): Promise<number> {
  const rows = await prisma.studyForward.findMany({
    where: {
      OR: [{ state: "queued" }, { state: "failed", nextAttemptAt: { lte: now } }, { state: "sending", updatedAt: { lt: new Date(now.getTime() - STALLED_AFTER_MS) } }],
    },
    select: { id: true, state: true, attempts: true, queuedAt: true },
    take: 1000,
  });
  if (!rows.length) return 0;
  await getQueue("forward").addBulk(
    rows.map((r) => {
      const attempt = r.state === "sending" ? r.attempts : r.attempts + 1;
      return { name: "forward", data: { forwardId: r.id, attempt }, opts: { ...FORWARD_JOB_OPTIONS, jobId: forwardJobId(r.id, r.queuedAt, attempt) } };
    }),
  );
  return rows.length;
}

export async function sweepForwards(prisma: PrismaClient, now = new Date()) {
  return { handed: await handForwards(prisma, now), requeued: await requeueForwards(prisma, now) };
}

/** An owner's retry: a failed forward is queued again now (a new round of attempts). */
export async function retryForward(prisma: PrismaClient, projectId: string, forwardId: string, now = new Date()) {
  const n = await prisma.studyForward.updateMany({ where: { id: forwardId, projectId, state: "failed" }, data: { state: "queued", attempts: 0, nextAttemptAt: null, queuedAt: now } });
  if (!n.count) return null;
  return prisma.studyForward.findUniqueOrThrow({ where: { id: forwardId } });
}
