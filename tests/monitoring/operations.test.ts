// The operations view against real Redis and PostgreSQL: workers record every finished job's wait
// and run time (shared by all worker processes through Redis) and beat a heartbeat with what they
// do; the overview and /metrics read them; `promtool check metrics` accepts the exposition.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueEvents } from "bullmq";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";

process.env.ATRIUM_QUEUE_PREFIX = `atrium-ops-${process.pid}-${randomBytes(3).toString("hex")}`;

const { startWorkers } = await import("@/workers");
const { enqueue, getQueue, closeQueues } = await import("@/server/queues");
const { closeSharedRedis, createRedis } = await import("@/server/redis");
const { createTestDatabase } = await import("../helpers/pg");
const { setDbHandle } = await import("@/server/db");
const { operationsOverview } = await import("@/server/monitoring/overview");
const { metrics } = await import("@/server/metrics");
const { jobHistogramsExposition } = await import("@/server/monitoring/metrics");
const { queueNames } = await import("@/lib/queue");

let events: QueueEvents;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  events = new QueueEvents("health", { connection: createRedis(), prefix: process.env.ATRIUM_QUEUE_PREFIX });
  await events.waitUntilReady();
});
afterAll(async () => {
  await events.close();
  for (const q of queueNames) await getQueue(q).obliterate({ force: true });
  const r = createRedis();
  const keys = await r.keys(`${process.env.ATRIUM_QUEUE_PREFIX}:atrium-*`);
  if (keys.length) await r.del(...keys);
  await r.quit();
  await closeQueues();
  await closeSharedRedis();
  setDbHandle(undefined);
  await db?.drop();
});

describe("operations overview and metrics", () => {
  it("counts finished jobs per minute, shows the live worker, and forgets it after a graceful stop", async () => {
    const workers = await startWorkers();
    try {
      for (let i = 0; i < 3; i++) await (await enqueue("health", { requestedAt: new Date().toISOString() })).waitUntilFinished(events, 10_000);
      await new Promise((r) => setTimeout(r, 300)); // the 'completed' listeners write after the job resolves
      const o = await operationsOverview(db.prisma);
      const health = o.queues.find((q) => q.name === "health")!;
      expect(health.lastHour.completed).toBe(3);
      expect(health.lastHour.failed).toBe(0);
      expect(health.lastHour.meanRunMs).not.toBeNull();
      expect(health.chart).toHaveLength(36);
      expect(o.workers.alive).toHaveLength(1);
      expect(o.workers.alive[0]!.pid).toBe(process.pid);
      expect(o.workers.alive[0]!.queues).toContain("deid");
      expect(o.redis).toBe(true);
      expect(o.disk!.totalBytes).toBeGreaterThan(0);
      expect(o.alerts.filter((a) => a.kind !== "disk-filling")).toEqual([]);
    } finally {
      await workers.close();
    }
    const after = await operationsOverview(db.prisma);
    expect(after.workers.alive).toEqual([]);
    expect(after.workers.gone).toEqual([]);
  });

  it("a job waiting with no worker raises the workers-gone alert", async () => {
    await enqueue("health", { requestedAt: new Date().toISOString() });
    const o = await operationsOverview(db.prisma);
    expect(o.queues.find((q) => q.name === "health")!.counts.waiting).toBe(1);
    expect(o.alerts.map((a) => a.id)).toContain("workers-gone:all");
  });

  it("/metrics' text passes promtool check metrics, with the job histogram and no PHI-bearing labels", async () => {
    const text = (await metrics().registry.metrics()) + (await jobHistogramsExposition());
    expect(text).toContain('atrium_job_duration_seconds_count{queue="health",outcome="completed"} 3');
    expect(text).toMatch(/atrium_alerts_active\{kind="workers-gone",severity="critical",service="atrium"\} 1/);
    expect(text).toMatch(/atrium_queue_jobs\{queue="health",state="waiting",service="atrium"\} 1$/m);
    expect(text).toMatch(/atrium_queue_oldest_waiting_seconds\{queue="health",service="atrium"\} \d/);
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(check.error, "promtool is installed by npm test's setup (Debian prometheus)").toBeUndefined();
    // promtool lints too; the only findings allowed are prom-client's own default gauges named *_total.
    const findings = `${check.stdout}${check.stderr}`.trim().split("\n").filter(Boolean);
    expect(findings.filter((l) => !/^atrium_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(l))).toEqual([]);
    expect(check.stderr).not.toMatch(/error/i);
  });
});
