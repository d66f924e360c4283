// Job statistics in Redis, written by every worker process and read by the portal and /metrics
// (arithmetic in lib/monitoring/job-stats.ts). Keys carry the queue prefix, so test runs and sites
// sharing a Redis do not mix; minute hashes expire after two days.
import type { Redis } from "ioredis";
import type { Job } from "bullmq";
import { jobIncrements, minuteOf, minuteSeries, histogramOf, type MinuteStats, type Histogram } from "@/lib/monitoring/job-stats";
import { queuePrefix } from "@/server/queues";

const MINUTE_TTL_S = 2 * 24 * 3600;
const minuteKey = (queue: string, minute: number) => `${queuePrefix()}:atrium-stats:${queue}:${minute}`;
const histogramKey = (queue: string) => `${queuePrefix()}:atrium-hist:${queue}`;

/** Adds one finished job. Never throws: statistics must not fail a job. */
export async function recordFinishedJob(redis: Redis, queue: string, job: Pick<Job, "timestamp" | "processedOn" | "finishedOn">, outcome: "completed" | "failed"): Promise<void> {
  const ended = job.finishedOn ?? Date.now();
  const started = job.processedOn ?? ended;
  const inc = jobIncrements(outcome, job.timestamp ?? started, started, ended);
  const m = redis.multi();
  const mk = minuteKey(queue, inc.minute);
  for (const [f, n] of Object.entries(inc.minuteFields)) m.hincrby(mk, f, Math.round(n));
  m.expire(mk, MINUTE_TTL_S);
  const hk = histogramKey(queue);
  for (const [f, n] of Object.entries(inc.histogramFields)) m.hincrby(hk, f, Math.round(n));
  await m.exec().catch(() => undefined);
}

export async function recordStalledJob(redis: Redis, queue: string): Promise<void> {
  const mk = minuteKey(queue, minuteOf(Date.now()));
  await redis.multi().hincrby(mk, "stalled", 1).expire(mk, MINUTE_TTL_S).exec().catch(() => undefined);
}

/** The last `minutes` minutes of one queue, oldest first. */
export async function readMinutes(redis: Redis, queue: string, minutes: number, now = Date.now()): Promise<MinuteStats[]> {
  const to = minuteOf(now);
  const from = to - minutes + 1;
  const m = redis.multi();
  for (let i = from; i <= to; i++) m.hgetall(minuteKey(queue, i));
  const res = (await m.exec()) ?? [];
  const raw = new Map<number, Record<string, string>>();
  res.forEach(([err, h], i) => {
    if (!err && h && Object.keys(h as object).length) raw.set(from + i, h as Record<string, string>);
  });
  return minuteSeries(raw, from, to);
}

export async function readHistograms(redis: Redis, queue: string): Promise<{ completed: Histogram; failed: Histogram }> {
  const raw = await redis.hgetall(histogramKey(queue));
  return { completed: histogramOf(raw, "completed"), failed: histogramOf(raw, "failed") };
}
