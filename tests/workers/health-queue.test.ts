// The worker process against the real Redis: jobs flow end to end, payloads are validated with
// the queue's schema, and shutdown leaves no job half-done.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueEvents } from "bullmq";
import { randomBytes } from "node:crypto";

process.env.ATRIUM_QUEUE_PREFIX = `atrium-test-${process.pid}-${randomBytes(3).toString("hex")}`;

const { startWorkers } = await import("@/workers");
const { enqueue, getQueue, closeQueues } = await import("@/server/queues");
const { closeSharedRedis, createRedis } = await import("@/server/redis");

const { createTestDatabase } = await import("../helpers/pg");
const { setDbHandle } = await import("@/server/db");

let events: QueueEvents;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  events = new QueueEvents("health", { connection: createRedis(), prefix: process.env.ATRIUM_QUEUE_PREFIX });
  await events.waitUntilReady();
});
afterAll(async () => {
  await getQueue("health").obliterate({ force: true });
  await events.close();
  for (const q of ["deid", "intake-stability"] as const) await getQueue(q).obliterate({ force: true });
  await closeQueues();
  await closeSharedRedis();
  setDbHandle(undefined);
  await db?.drop();
});

describe("health queue", () => {
  it("a job enqueued by a producer is answered by the workers", async () => {
    const workers = await startWorkers();
    try {
      const job = await enqueue("health", { requestedAt: new Date().toISOString() });
      const result = (await job.waitUntilFinished(events, 10_000)) as { pid: number; requestedAt: string };
      expect(result.pid).toBe(process.pid);
      expect(result.requestedAt).toBe(job.data.requestedAt);
    } finally {
      await workers.close();
    }
  });

  it("a payload that breaks the queue's schema is refused at enqueue, with the field named", async () => {
    await expect(enqueue("health", { requestedAt: "yesterday" } as never)).rejects.toThrow(/requestedAt/);
    expect(await getQueue("health").getJobCountByTypes("waiting", "active")).toBe(0);
  });

  it("shutdown finishes or returns every job: none is left active or failed", async () => {
    const queue = getQueue("health");
    await queue.obliterate({ force: true });
    const jobs = await Promise.all(Array.from({ length: 50 }, () => enqueue("health", { requestedAt: new Date().toISOString() })));
    const workers = await startWorkers();
    await jobs[0]!.waitUntilFinished(events, 10_000);
    await workers.close(5_000);
    const counts = await queue.getJobCounts("completed", "waiting", "active", "failed", "delayed");
    expect(counts.active).toBe(0);
    expect(counts.failed).toBe(0);
    expect(counts.completed + counts.waiting).toBe(50);
    // What was returned is taken by the next worker.
    const next = await startWorkers();
    await jobs[49]!.waitUntilFinished(events, 10_000);
    await next.close();
    expect((await queue.getJobCounts("completed")).completed).toBe(50);
  });
});
