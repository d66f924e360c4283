// The worker process: one BullMQ worker per queue. Add a queue by adding its processor here.
// Shutdown is graceful: running jobs finish (up to the grace period); jobs still running after it
// are left to BullMQ's stalled-job check, which returns them to the queue for another worker.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, type Job, type Processor } from "bullmq";
import { readEnv } from "@/lib/config";
import type { QueueName } from "@/lib/queue";
import type { Redis } from "ioredis";
import { createRedis } from "@/server/redis";
import { queuePrefix } from "@/server/queues";
import { childLog } from "@/lib/log";
import { processHealth } from "./health";
import { processDeid, onDeidFailed } from "./deid";
import { startSendersFirst } from "./senders-first";
import { processIntakeStability } from "./intake-stability";
import { processWebhookPull, onWebhookPullFailed } from "./webhook-pull";
import { processArchive } from "./archive";
import { processForward } from "./forward";
import { processGovernor } from "./governor";
import { requeueGovernor } from "@/server/governor/engine";
import { processCompute } from "./compute";
import { requeueComputeJobs } from "@/server/pipelines/runs";
import { requeueForwards } from "@/server/forward/queue";
import { requeueArchives } from "@/server/archive/queue";
import { db } from "@/server/db";
import { requeuePendingInstances, scheduleIntakeStability } from "@/server/intake/queue";
import { requeuePendingDeliveries } from "@/server/webhooks/queue";
import { sweepStaging } from "@/server/intake/staging";
import { deliverDueCallbacks } from "@/server/tasks/callbacks";
import { dataDir } from "@/lib/config";
import { sharedRedis } from "@/server/redis";
import { recordFinishedJob, recordStalledJob } from "@/server/monitoring/job-stats";
import { startHeartbeat } from "@/server/monitoring/heartbeat";

const log = childLog("workers");

/**
 * De-identification runs in worker threads when the database is PostgreSQL (the embedded one serves
 * one thread only); ATRIUM_DEID_THREADS=0 keeps it in the main thread.
 */
function deidInThreads(): boolean {
  const env = readEnv();
  return Boolean(env.DATABASE_URL) && process.env.ATRIUM_DEID_THREADS !== "0";
}
declare const __ATRIUM_COMPILED_DIR__: string | undefined;
/** The thread's entry: compiled beside the compiled CLI (bin/cli-build.mjs), else the tsx loader. */
const DEID_THREAD_ENTRY =
  typeof __ATRIUM_COMPILED_DIR__ === "string"
    ? path.join(__ATRIUM_COMPILED_DIR__, "deid-thread.mjs")
    : path.join(path.dirname(fileURLToPath(import.meta.url)), "deid-thread.mjs");

const processors: Record<QueueName, { processor: Processor; concurrency: number; onFailed?: (job: Job | undefined, err: Error) => Promise<void> }> = {
  health: { processor: processHealth, concurrency: 1 },
  deid: { processor: processDeid, concurrency: 2, onFailed: onDeidFailed },
  "intake-stability": { processor: processIntakeStability, concurrency: 1 },
  "webhook-pull": { processor: processWebhookPull, concurrency: 2, onFailed: onWebhookPullFailed },
  archive: { processor: processArchive, concurrency: 2 },
  forward: { processor: processForward, concurrency: 2 },
  governor: { processor: processGovernor, concurrency: 4 },
  // Mostly waiting on executors (whose own limits decide how many processes run): many at once.
  compute: { processor: processCompute, concurrency: Number(process.env.ATRIUM_COMPUTE_WORKER_CONCURRENCY) || 32 },
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
    worker.on("completed", (job) => void recordFinishedJob(sharedRedis(), name, job, "completed"));
    worker.on("stalled", () => void recordStalledJob(sharedRedis(), name));
    worker.on("failed", (job, err) => {
      if (job) void recordFinishedJob(sharedRedis(), name, job, "failed");
      log.warn({ queue: name, jobId: job?.id, attempt: job?.attemptsMade, error: err.name }, "job failed");
      onFailed?.(job, err).catch((e: Error) => log.error({ queue: name, jobId: job?.id, error: e.name }, "failure handling failed"));
    });
    worker.on("error", (err) => log.error({ queue: name, error: err.message }, "worker error"));
    return worker;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const heartbeat = startHeartbeat(sharedRedis(), (Object.keys(processors) as QueueName[]).map((name, i) => ({ name, worker: workers[i]! })));
  // Senders first: de-identification and archiving wait while this process receives a burst.
  const names = Object.keys(processors) as QueueName[];
  const stopSendersFirst = startSendersFirst(
    (["deid", "archive"] as const).map((q) => ({ worker: workers[names.indexOf(q)]!, concurrency: processors[q].concurrency })),
  );
  // The database is the truth: whatever was recorded but not finished is queued again.
  await rederiveFromDatabase();
  // Redis may come back empty (restarted without persistence, or replaced): every queued job and
  // the sweep's schedule are gone with it, and a running worker would otherwise wait for work
  // that never comes. Each time the connection is ready again, the same re-derivation runs (job
  // ids are the records' ids, so nothing is queued twice).
  const stopRederiveOnReconnect = onReconnect(connection, rederiveFromDatabase);
  // Staged originals no longer needed and interrupted uploads' spools go at start (then every 10 minutes).
  void sweepStaging(await db(), dataDir()).catch((e: Error) => log.error({ error: e.name }, "staging sweep failed"));
  // Task callbacks (TaskManager callback_url) that did not answer are tried again when due.
  const sweepCallbacks = async () => deliverDueCallbacks(await db()).catch((e: Error) => log.error({ error: e.name }, "task callback sweep failed"));
  void sweepCallbacks();
  const callbackTimer = setInterval(() => void sweepCallbacks(), 60_000);
  callbackTimer.unref();
  log.info({ queues: Object.keys(processors) }, "workers started");
  return {
    workers,
    async close(graceMs = 30_000) {
      stopRederiveOnReconnect();
      clearInterval(callbackTimer);
      stopSendersFirst();
      await heartbeat.stop();
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

/** Queues again, from the database, what was recorded but not finished, and the periodic sweep. */
async function rederiveFromDatabase() {
  await scheduleIntakeStability();
  await requeuePendingInstances(await db());
  await requeuePendingDeliveries(await db());
  await requeueArchives(await db());
  await requeueForwards(await db());
  await requeueGovernor(await db());
  await requeueComputeJobs(await db());
}

/**
 * Runs `fn` after every reconnection of `redis` (not the first connection): one run at a time, and
 * once more if the connection came back again meanwhile. Failures are logged; the next reconnection
 * or the next worker start tries again. Returns a function that stops listening.
 */
export function onReconnect(redis: Redis, fn: () => Promise<void>): () => void {
  let running: Promise<void> | null = null;
  let again = false;
  const run = () => {
    if (running) {
      again = true;
      return;
    }
    running = fn()
      .then(() => log.info("Redis reconnected: unfinished work queued again from the database"))
      .catch((e: Error) => log.error({ error: e.name }, "Redis reconnected but re-queueing unfinished work failed; the next reconnection or worker start retries"))
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
  };
  // "ready" fires on the first connection too, which startWorkers has already handled.
  let first = redis.status !== "ready";
  const onReady = () => {
    if (first) {
      first = false;
      return;
    }
    run();
  };
  redis.on("ready", onReady);
  return () => redis.off("ready", onReady);
}
