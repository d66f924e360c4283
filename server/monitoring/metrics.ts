// What /metrics exports from the operations overview (queues, workers, alerts, disk), the database
// (instances by status, studies by archive state) and the workers' job-time histograms in Redis.
// Labels are queue names, states, outcomes and alert kinds: bounded, never PHI.
import { Gauge, type Registry } from "prom-client";
import { db } from "@/server/db";
import { queueNames } from "@/lib/queue";
import { sharedRedis } from "@/server/redis";
import { histogramExposition } from "@/lib/monitoring/job-stats";
import { ALERT_KINDS } from "@/lib/monitoring/alerts";
import { operationsOverview, type OperationsOverview } from "./overview";
import { readHistograms } from "./job-stats";

/** One overview per scrape, however many gauges ask for it. */
let pending: { at: number; value: Promise<OperationsOverview> } | null = null;
function overviewForScrape(): Promise<OperationsOverview> {
  if (!pending || Date.now() - pending.at > 1000) pending = { at: Date.now(), value: db().then((p) => operationsOverview(p)) };
  return pending.value;
}

/** Registers the gauges read from the overview; returns the per-queue job counts gauge. */
export function registerOperationsMetrics(registry: Registry) {
  const queueJobs = new Gauge({
    name: "atrium_queue_jobs",
    help: "Jobs per queue and state, read from Redis at scrape time.",
    labelNames: ["queue", "state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      // Redis down: the health endpoint says so; the scrape still succeeds.
      const o = await overviewForScrape().catch(() => null);
      for (const q of o?.queues ?? []) for (const state of ["waiting", "active", "delayed", "failed", "completed"] as const) this.set({ queue: q.name, state }, q.counts[state]);
    },
  });
  new Gauge({
    name: "atrium_queue_oldest_waiting_seconds",
    help: "Age of the oldest job waiting in each queue (0 when none waits).",
    labelNames: ["queue"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const o = await overviewForScrape().catch(() => null);
      for (const q of o?.queues ?? []) this.set({ queue: q.name }, (q.oldestWaitingMs ?? 0) / 1000);
    },
  });
  new Gauge({
    name: "atrium_workers_alive",
    help: "Worker processes whose heartbeat is current.",
    registers: [registry],
    async collect() {
      const o = await overviewForScrape().catch(() => null);
      this.set(o?.workers.alive.length ?? 0);
    },
  });
  new Gauge({
    name: "atrium_worker_active_jobs",
    help: "Jobs being processed now, by queue, over all live workers.",
    labelNames: ["queue"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const o = await overviewForScrape().catch(() => null);
      for (const name of queueNames) this.set({ queue: name }, (o?.workers.alive ?? []).reduce((s, w) => s + w.active.filter((a) => a.queue === name).length, 0));
    },
  });
  new Gauge({
    name: "atrium_alerts_active",
    help: "Operator alerts currently raised, by kind and severity (see the Operations page).",
    labelNames: ["kind", "severity"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const o = await overviewForScrape().catch(() => null);
      for (const kind of ALERT_KINDS) for (const severity of ["warning", "critical"] as const) this.set({ kind, severity }, (o?.alerts ?? []).filter((a) => a.kind === kind && a.severity === severity).length);
    },
  });
  new Gauge({
    name: "atrium_data_dir_free_bytes",
    help: "Free bytes on the data directory's file system.",
    registers: [registry],
    async collect() {
      const o = await overviewForScrape().catch(() => null);
      if (o?.disk) this.set(o.disk.freeBytes);
    },
  });
  new Gauge({
    name: "atrium_data_dir_size_bytes",
    help: "Size of the data directory's file system.",
    registers: [registry],
    async collect() {
      const o = await overviewForScrape().catch(() => null);
      if (o?.disk) this.set(o.disk.totalBytes);
    },
  });
  new Gauge({
    name: "atrium_intake_instances",
    help: "Received instances by status (de-identification outcomes: deidentified, duplicate, quarantined, review…).",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await (await db()).receivedInstance.groupBy({ by: ["status"], _count: { _all: true } }).catch(() => []);
      for (const r of rows) this.set({ status: r.status }, r._count._all);
    },
  });
  new Gauge({
    name: "atrium_archive_studies",
    help: "Studies by archive state (queued, sending, verifying, archived, failed).",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await (await db()).studyArchive.groupBy({ by: ["state"], _count: { _all: true } }).catch(() => []);
      for (const r of rows) this.set({ state: r.state }, r._count._all);
    },
  });
  return queueJobs;
}

/** The job-time histograms (kept in Redis by the workers), in Prometheus text format. */
export async function jobHistogramsExposition(): Promise<string> {
  const series: Parameters<typeof histogramExposition>[2] = [];
  for (const queue of queueNames) {
    const h = await readHistograms(sharedRedis(), queue).catch(() => null);
    if (!h) continue;
    series.push({ labels: { queue, outcome: "completed" }, histogram: h.completed }, { labels: { queue, outcome: "failed" }, histogram: h.failed });
  }
  return histogramExposition("atrium_job_duration_seconds", "Time jobs ran, by queue and outcome (all worker processes). rate() of _count gives throughput.", series);
}
