// Worker liveness: each worker process writes a heartbeat to Redis every few seconds with what it is
// doing (its active jobs by queue), and keeps its last-seen time in a sorted set for a day, so the
// portal can show the workers alive and notice the ones that went away.
import os from "node:os";
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Job, Worker } from "bullmq";
import { queuePrefix } from "@/server/queues";

export const HEARTBEAT_MS = 10_000;
const ALIVE_TTL_S = 30;
const KNOWN_FOR_MS = 24 * 3600_000;
const workerKey = (id: string) => `${queuePrefix()}:atrium-worker:${id}`;
const knownKey = () => `${queuePrefix()}:atrium-workers`;

export type ActiveJob = { queue: string; jobId: string; name: string; since: number };
export type WorkerBeat = { id: string; host: string; pid: number; startedAt: number; queues: string[]; active: ActiveJob[]; lastSeenMs: number };

export function startHeartbeat(redis: Redis, workers: { name: string; worker: Worker }[]): { id: string; stop(): Promise<void> } {
  const id = `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const startedAt = Date.now();
  const member = JSON.stringify({ id, host: os.hostname(), pid: process.pid });
  const active = new Map<string, ActiveJob>();
  for (const { name, worker } of workers) {
    worker.on("active", (job: Job) => active.set(`${name}:${job.id}`, { queue: name, jobId: String(job.id), name: job.name, since: Date.now() }));
    const done = (job: Job | undefined) => job && active.delete(`${name}:${job.id}`);
    worker.on("completed", done);
    worker.on("failed", done);
  }
  const beat = async () => {
    const now = Date.now();
    const body: WorkerBeat = { id, host: os.hostname(), pid: process.pid, startedAt, queues: workers.map((w) => w.name), active: [...active.values()], lastSeenMs: now };
    await redis
      .multi()
      .set(workerKey(id), JSON.stringify(body), "EX", ALIVE_TTL_S)
      .zadd(knownKey(), now, member)
      .zremrangebyscore(knownKey(), 0, now - KNOWN_FOR_MS)
      .exec()
      .catch(() => undefined);
  };
  void beat();
  const timer = setInterval(() => void beat(), HEARTBEAT_MS);
  timer.unref();
  return {
    id,
    async stop() {
      clearInterval(timer);
      // A graceful stop is not a worker gone: forget it at once.
      await redis.multi().del(workerKey(id)).zrem(knownKey(), member).exec().catch(() => undefined);
    },
  };
}

/** Workers alive (with what they do) and those seen in the last day that stopped beating. */
export async function readWorkers(redis: Redis): Promise<{ alive: WorkerBeat[]; seen: { id: string; host: string; lastSeenMs: number }[] }> {
  const entries = await redis.zrange(knownKey(), "0", "-1", "WITHSCORES");
  const seen: { id: string; host: string; lastSeenMs: number }[] = [];
  for (let i = 0; i < entries.length; i += 2) {
    try {
      const w = JSON.parse(entries[i]!) as { id: string; host: string };
      seen.push({ id: w.id, host: w.host, lastSeenMs: Number(entries[i + 1]) });
    } catch {
      /* a foreign entry: ignore */
    }
  }
  const bodies = seen.length ? await redis.mget(...seen.map((w) => workerKey(w.id))) : [];
  const alive = bodies.filter((b): b is string => Boolean(b)).map((b) => JSON.parse(b) as WorkerBeat);
  return { alive, seen };
}
