// The worker process: one BullMQ worker per queue. Add a queue by adding its processor here.
// Shutdown is graceful: running jobs finish (up to the grace period); jobs still running after it
// are left to BullMQ's stalled-job check, which returns them to the queue for another worker.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, type Job, type Processor } from "bullmq";
import { readEnv } from "@/lib/config";
import type { QueueName } from "@/lib/queue";
import { createRedis } from "@/server/redis";
import { queuePrefix } from "@/server/queues";
import { childLog } from "@/lib/log";
import { processHealth } from "./health";
import { processDeid, onDeidFailed } from "./deid";
import { startSendersFirst } from "./senders-first";
import { processIntakeStability } from "./intake-stability";
import { processWebhookPull, onWebhookPullFailed } from "./webhook-pull";
import { processArchive } from "./archive";
import { requeueArchives } from "@/server/archive/queue";
import { db } from "@/server/db";
import { requeuePendingInstances, scheduleIntakeStability } from "@/server/intake/queue";
import { requeuePendingDeliveries } from "@/server/webhooks/queue";

const log = childLog("workers");

/**
 * De-identification runs in worker threads when the database is PostgreSQL (the embedded one serves
 * one thread only); ATRIUM_DEID_THREADS=0 keeps it in the main thread.
 */
function deidInThreads(): boolean {
  const env = readEnv();
  return Boolean(env.DATABASE_URL) && process.env.ATRIUM_DEID_THREADS !== "0";
}
const DEID_THREAD_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), "deid-thread.mjs");

const processors: Record<QueueName, { processor: Processor; concurrency: number; onFailed?: (job: Job | undefined, err: Error) => Promise<void> }> = {
  health: { processor: processHealth, concurrency: 1 },
  deid: { processor: processDeid, concurrency: 2, onFailed: onDeidFailed },
  "intake-stability": { processor: processIntakeStability, concurrency: 1 },
  "webhook-pull": { processor: processWebhookPull, concurrency: 2, onFailed: onWebhookPullFailed },
  archive: { processor: processArchive, concurrency: 2 },
};

export interface RunningWorkers {
  workers: Worker[];
  close(graceMs?: number): Promise<void>;
}

export async function startWorkers(options: { redisUrl?: string } = {}): Promise<RunningWorkers> {
  const connection = createRedis(options.redisUrl);
  const workers = (Object.keys(processors) as QueueName[]).map((name) => {
    const { processor, concurrency, onFailed } = processors[name];
    const threaded = name === "deid" && deidInThreads();
    const worker = new Worker(name, threaded ? DEID_THREAD_ENTRY : processor, {
      connection,
      prefix: queuePrefix(),
      concurrency,
      autorun: true,
      ...(threaded ? { useWorkerThreads: true } : {}),
    });
    worker.on("failed", (job, err) => {
      log.warn({ queue: name, jobId: job?.id, attempt: job?.attemptsMade, error: err.name }, "job failed");
      onFailed?.(job, err).catch((e: Error) => log.error({ queue: name, jobId: job?.id, error: e.name }, "failure handling failed"));
    });
    worker.on("error", (err) => log.error({ queue: name, error: err.message }, "worker error"));
    return worker;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  // Senders first: de-identification and archiving wait while this process receives a burst.
  const names = Object.keys(processors) as QueueName[];
  const stopSendersFirst = startSendersFirst(
    (["deid", "archive"] as const).map((q) => ({ worker: workers[names.indexOf(q)]!, concurrency: processors[q].concurrency })),
  );
  // The database is the truth: whatever was recorded but not finished is queued again.
  await scheduleIntakeStability();
  await requeuePendingInstances(await db());
  await requeuePendingDeliveries(await db());
  await requeueArchives(await db());
  log.info({ queues: Object.keys(processors) }, "workers started");
  return {
    workers,
    async close(graceMs = 30_000) {
      stopSendersFirst();
      const graceful = Promise.all(workers.map((w) => w.close()));
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
      ]);
      if (timedOut) {
        log.warn({ graceMs }, "jobs still running after the grace period; they return to their queues");
        await Promise.all(workers.map((w) => w.close(true)));
      }
      await connection.quit().catch(() => connection.disconnect());
      log.info("workers stopped");
    },
  };
}
