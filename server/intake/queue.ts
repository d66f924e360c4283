// Queueing intake work. The database is the truth: a job lost with Redis is re-derived from it.
import { enqueue, getQueue } from "@/server/queues";
import type { PrismaClient } from "@/server/db/generated/client";
import { childLog } from "@/lib/log";

const log = childLog("intake");

export const DEID_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: "exponential" as const, delay: 2_000 },
  removeOnComplete: true,
  removeOnFail: 1_000,
};

export async function queueDeid(instanceId: string) {
  await enqueue("deid", { instanceId }, { ...DEID_JOB_OPTIONS, jobId: instanceId });
}

/**
 * Re-queues every instance that was recorded but not yet de-identified (after a restart or a Redis
 * loss); with `olderThanMs`, only those waiting longer than that (the periodic sweep). A job id is
 * the instance id, so an instance whose job is still queued is not queued twice.
 */
export async function requeuePendingInstances(prisma: PrismaClient, opts: { olderThanMs?: number } = {}): Promise<number> {
  let queued = 0;
  let cursor: string | undefined;
  const receivedBefore = opts.olderThanMs === undefined ? undefined : new Date(Date.now() - opts.olderThanMs);
  for (;;) {
    const batch = await prisma.receivedInstance.findMany({
      where: { status: "received", projectId: { not: null }, ...(receivedBefore ? { receivedAt: { lt: receivedBefore } } : {}) },
      select: { id: true },
      orderBy: { id: "asc" },
      take: 500,
      ...(cursor ? { cursor: { id: cursor }, skip: 1 } : {}),
    });
    if (!batch.length) break;
    await getQueue("deid").addBulk(batch.map((b) => ({ name: "deid", data: { instanceId: b.id }, opts: { ...DEID_JOB_OPTIONS, jobId: b.id } })));
    queued += batch.length;
    cursor = batch[batch.length - 1]!.id;
  }
  if (queued) log.info({ instances: queued, sweep: opts.olderThanMs !== undefined }, "re-queued instances awaiting de-identification");
  return queued;
}

export async function scheduleIntakeStability(everyMs = 5_000) {
  await getQueue("intake-stability").upsertJobScheduler("intake-stability", { every: everyMs }, { name: "intake-stability", data: {} });
}

/**
 * Queues an instance's de-identification again (a retry from quarantine, a route to another
 * project): a finished or failed job under the same id would make BullMQ ignore the new one, so
 * it is removed first.
 */
export async function requeueDeid(instanceId: string) {
  const old = await getQueue("deid").getJob(instanceId);
  if (old && ((await old.isFailed()) || (await old.isCompleted()))) await old.remove().catch(() => undefined);
  await queueDeid(instanceId);
}

/** requeueDeid for many instances at once (a bulk retry or route from quarantine): one addBulk. */
export async function requeueDeidMany(instanceIds: readonly string[]) {
  if (!instanceIds.length) return;
  const queue = getQueue("deid");
  await Promise.all(
    instanceIds.map(async (id) => {
      const old = await queue.getJob(id);
      if (old && ((await old.isFailed()) || (await old.isCompleted()))) await old.remove().catch(() => undefined);
    }),
  );
  await queue.addBulk(instanceIds.map((id) => ({ name: "deid", data: { instanceId: id }, opts: { ...DEID_JOB_OPTIONS, jobId: id } })));
}
