// Test teardown for files that used the real queues: empty the given queues (under this run's
// prefix), then close the queue and shared Redis connections so the file's process can exit.
import type { QueueName } from "@/lib/queue";

export async function emptyQueuesAndDisconnect(queues: readonly QueueName[]): Promise<void> {
  const { closeQueues, getQueue } = await import("@/server/queues");
  for (const q of queues) await getQueue(q).obliterate({ force: true });
  await closeQueues();
  await (await import("@/server/redis")).closeSharedRedis();
}
