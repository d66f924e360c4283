import { describe, expect, it } from "vitest";
import { decideAlerts, THRESHOLDS, type AlertInput } from "@/lib/monitoring/alerts";
import { bucketIndex, DURATION_BUCKETS_S, foldSeries, histogramExposition, histogramOf, jobIncrements, minuteSeries } from "@/lib/monitoring/job-stats";

const NOW = 1_800_000_000_000;
const quietMinutes = (n: number) => minuteSeries(new Map(), 0, n - 1);
const base = (): AlertInput => ({ now: NOW, queues: [], workers: [{ id: "w1", host: "node1", lastSeenMs: NOW - 5_000 }], failures: [], disk: { freeBytes: 100 * 1024 ** 3, totalBytes: 200 * 1024 ** 3 }, slurm: null });

describe("operator alerts", () => {
  it("raises nothing on a healthy site", () => {
    expect(decideAlerts({ ...base(), queues: [{ name: "deid", waiting: 3, active: 2, oldestWaitingMs: 2_000, recent: quietMinutes(15) }] })).toEqual([]);
  });
  it("a queue whose oldest job waits past the threshold with nothing finished does not drain; one that finishes jobs does", () => {
    const stuck = { name: "archive", waiting: 4, active: 1, oldestWaitingMs: THRESHOLDS.stuckQueueMs + 60_000, recent: quietMinutes(15) };
    const a = decideAlerts({ ...base(), queues: [stuck] });
    expect(a.map((x) => x.id)).toEqual(["queue-not-draining:archive"]);
    expect(a[0]!.detail).toMatch(/4 job\(s\) waiting, the oldest for 11 min/);
    const moving = minuteSeries(new Map([[14, { completed: "2" }]]), 0, 14);
    expect(decideAlerts({ ...base(), queues: [{ ...stuck, recent: moving }] })).toEqual([]);
  });
  it("no live worker with jobs waiting is critical; one of two gone is a warning", () => {
    const gone = { id: "w1", host: "node1", lastSeenMs: NOW - 5 * 60_000 };
    const all = decideAlerts({ ...base(), workers: [gone], queues: [{ name: "deid", waiting: 1, active: 0, oldestWaitingMs: 1_000, recent: quietMinutes(15) }] });
    expect(all.map((x) => [x.id, x.severity])).toEqual([["workers-gone:all", "critical"]]);
    expect(all[0]!.action).toMatch(/atrium worker/);
    const one = decideAlerts({ ...base(), workers: [gone, { id: "w2", host: "node2", lastSeenMs: NOW - 1_000 }] });
    expect(one.map((x) => [x.id, x.severity])).toEqual([["workers-gone:w1", "warning"]]);
  });
  it("repeated failures of one target, SLURM unreachable, disk filling", () => {
    const a = decideAlerts({
      ...base(),
      failures: [{ kind: "archive-target", key: "P1", label: "of project P1 (xnat)", count: THRESHOLDS.failuresPerHour }, { kind: "tool", key: "t", label: "t", count: 1 }],
      slurm: { configured: true, ok: false, reason: "slurmctld does not answer" },
      disk: { freeBytes: 2 * 1024 ** 3, totalBytes: 100 * 1024 ** 3 },
    });
    expect(a.map((x) => [x.kind, x.severity])).toEqual([["repeated-failures", "warning"], ["slurm-unreachable", "critical"], ["disk-filling", "critical"]]);
    expect(decideAlerts({ ...base(), slurm: { configured: false, ok: false } })).toEqual([]);
  });
});

describe("job statistics arithmetic", () => {
  it("puts a run time in the first bucket that holds it", () => {
    expect(bucketIndex(0.005)).toBe(0);
    expect(bucketIndex(0.01)).toBe(0);
    expect(bucketIndex(0.011)).toBe(1);
    expect(bucketIndex(7200)).toBe(DURATION_BUCKETS_S.length);
  });
  it("folds minutes into windows with weighted means, and exposes cumulative histograms", () => {
    const inc = jobIncrements("completed", 0, 1_000, 3_000);
    expect(inc.minuteFields).toEqual({ completed: 1, completedWaitMs: 1_000, completedRunMs: 2_000 });
    const s = minuteSeries(new Map<number, Record<string, string>>([[0, { completed: "1", completedWaitMs: "100", completedRunMs: "1000" }], [1, { completed: "3", completedWaitMs: "900", completedRunMs: "3000", failed: "1", failedWaitMs: "0", failedRunMs: "1000" }]]), 0, 2);
    const [w] = foldSeries(s, 3);
    expect(w).toMatchObject({ completed: 4, failed: 1, meanWaitMs: 200, meanRunMs: 1000 });
    const h = histogramOf({ "completed:b0": "2", "completed:b3": "1", "completed:sum_ms": "300", "completed:count": "3" }, "completed");
    expect(h.buckets.slice(0, 4)).toEqual([2, 2, 2, 3]);
    expect(h.buckets.at(-1)).toBe(3);
    const text = histogramExposition("x_seconds", "help", [{ labels: { queue: "deid" }, histogram: h }]);
    expect(text).toContain('x_seconds_bucket{queue="deid",le="+Inf"} 3');
    expect(text).toContain('x_seconds_sum{queue="deid"} 0.3');
  });
});
