// Job statistics shared by every worker process through Redis: per queue and minute, how many jobs
// completed, failed or stalled, with the summed wait (queued → started) and run time; and per queue
// and outcome a histogram of run times. Workers add to them (server/monitoring/job-stats.ts); the
// portal and /metrics read them. This module holds the arithmetic, free of Redis.

/** Upper bounds (seconds) of the run-time histogram buckets; +Inf is implicit. */
export const DURATION_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] as const;

/** Index of the first bucket whose bound holds `seconds` (DURATION_BUCKETS_S.length = +Inf). */
export function bucketIndex(seconds: number): number {
  const i = DURATION_BUCKETS_S.findIndex((b) => seconds <= b);
  return i === -1 ? DURATION_BUCKETS_S.length : i;
}

export const MINUTE_MS = 60_000;
export function minuteOf(ms: number): number {
  return Math.floor(ms / MINUTE_MS);
}

export type JobOutcomeKind = "completed" | "failed";

/** What one finished job adds: the Redis hash fields and increments, per minute and histogram. */
export function jobIncrements(outcome: JobOutcomeKind, queuedAtMs: number, startedAtMs: number, endedAtMs: number) {
  const waitMs = Math.max(0, startedAtMs - queuedAtMs);
  const runMs = Math.max(0, endedAtMs - startedAtMs);
  return {
    minute: minuteOf(endedAtMs),
    minuteFields: { [outcome]: 1, [`${outcome}WaitMs`]: waitMs, [`${outcome}RunMs`]: runMs } as Record<string, number>,
    histogramFields: { [`${outcome}:b${bucketIndex(runMs / 1000)}`]: 1, [`${outcome}:sum_ms`]: runMs, [`${outcome}:count`]: 1 } as Record<string, number>,
  };
}

export type MinuteStats = { minute: number; completed: number; failed: number; stalled: number; meanWaitMs: number | null; meanRunMs: number | null };

/** One queue's minutes from raw hashes (missing minutes are zero), oldest first. */
export function minuteSeries(raw: Map<number, Record<string, string>>, fromMinute: number, toMinute: number): MinuteStats[] {
  const out: MinuteStats[] = [];
  for (let m = fromMinute; m <= toMinute; m++) {
    const h = raw.get(m) ?? {};
    const n = (k: string) => Number(h[k] ?? 0);
    const finished = n("completed") + n("failed");
    out.push({
      minute: m,
      completed: n("completed"),
      failed: n("failed"),
      stalled: n("stalled"),
      meanWaitMs: finished ? (n("completedWaitMs") + n("failedWaitMs")) / finished : null,
      meanRunMs: finished ? (n("completedRunMs") + n("failedRunMs")) / finished : null,
    });
  }
  return out;
}

/** Minutes folded into windows of `size` minutes (for a chart), oldest first. */
export function foldSeries(series: MinuteStats[], size: number): MinuteStats[] {
  const out: MinuteStats[] = [];
  for (let i = 0; i < series.length; i += size) {
    const part = series.slice(i, i + size);
    const finished = part.reduce((s, p) => s + p.completed + p.failed, 0);
    const weighted = (k: "meanWaitMs" | "meanRunMs") => (finished ? part.reduce((s, p) => s + (p[k] ?? 0) * (p.completed + p.failed), 0) / finished : null);
    out.push({
      minute: part[0]!.minute,
      completed: part.reduce((s, p) => s + p.completed, 0),
      failed: part.reduce((s, p) => s + p.failed, 0),
      stalled: part.reduce((s, p) => s + p.stalled, 0),
      meanWaitMs: weighted("meanWaitMs"),
      meanRunMs: weighted("meanRunMs"),
    });
  }
  return out;
}

export type Histogram = { buckets: number[]; sumSeconds: number; count: number };

/** A cumulative histogram (Prometheus `le` semantics) for one outcome from the raw hash. */
export function histogramOf(raw: Record<string, string>, outcome: JobOutcomeKind): Histogram {
  const perBucket = Array.from({ length: DURATION_BUCKETS_S.length + 1 }, (_, i) => Number(raw[`${outcome}:b${i}`] ?? 0));
  const buckets: number[] = [];
  perBucket.reduce((acc, n) => {
    buckets.push(acc + n);
    return acc + n;
  }, 0);
  return { buckets, sumSeconds: Number(raw[`${outcome}:sum_ms`] ?? 0) / 1000, count: Number(raw[`${outcome}:count`] ?? 0) };
}

/** Prometheus text exposition of histograms that live outside prom-client's registry. */
export function histogramExposition(name: string, help: string, series: { labels: Record<string, string>; histogram: Histogram }[]): string {
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
  const labelText = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(",");
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  for (const { labels, histogram } of series) {
    const base = labelText(labels);
    const sep = base ? "," : "";
    DURATION_BUCKETS_S.forEach((b, i) => lines.push(`${name}_bucket{${base}${sep}le="${b}"} ${histogram.buckets[i]}`));
    lines.push(`${name}_bucket{${base}${sep}le="+Inf"} ${histogram.buckets[DURATION_BUCKETS_S.length]}`);
    lines.push(`${name}_sum{${base}} ${histogram.sumSeconds}`);
    lines.push(`${name}_count{${base}} ${histogram.count}`);
  }
  return lines.join("\n") + "\n";
}
