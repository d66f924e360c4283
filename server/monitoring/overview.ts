// What operators see on the Operations page and what /metrics exports beyond prom-client's own:
// every queue with its counts, oldest waiting job and recent minutes; the workers; recent failures
// by target; the data directory's disk; and the alerts decided from all of it (lib/monitoring).
import { statfs } from "node:fs/promises";
import path from "node:path";
import type { PrismaClient } from "@/server/db/generated/client";
import { queueNames } from "@/lib/queue";
import { getQueue } from "@/server/queues";
import { sharedRedis } from "@/server/redis";
import { dataDir } from "@/lib/config";
import { decideAlerts, type Alert, type AlertInput } from "@/lib/monitoring/alerts";
import { foldSeries, type MinuteStats } from "@/lib/monitoring/job-stats";
import { readMinutes } from "./job-stats";
import { readWorkers, type WorkerBeat } from "./heartbeat";

export type QueueOverview = {
  name: string;
  counts: { waiting: number; active: number; delayed: number; failed: number; completed: number; prioritized: number };
  oldestWaitingMs: number | null;
  /** Last 3 hours in 5-minute windows, oldest first. */
  chart: MinuteStats[];
  lastHour: { completed: number; failed: number; stalled: number; meanWaitMs: number | null; meanRunMs: number | null };
};

export type OperationsOverview = {
  at: Date;
  redis: boolean;
  queues: QueueOverview[];
  workers: { alive: WorkerBeat[]; gone: { id: string; host: string; lastSeenMs: number }[] };
  disk: { path: string; freeBytes: number; totalBytes: number } | null;
  alerts: Alert[];
};

/** Slots that later capabilities fill (SLURM's check, failures of tools), kept out of this file's imports. */
export type OverviewExtras = { slurm?: () => Promise<AlertInput["slurm"]>; failures?: (prisma: PrismaClient, since: Date) => Promise<AlertInput["failures"]> };
const extras: OverviewExtras[] = [];
export function registerOverviewExtras(e: OverviewExtras) {
  extras.push(e);
}

const CHART_MINUTES = 180;

export async function operationsOverview(prisma: PrismaClient, now = Date.now()): Promise<OperationsOverview> {
  const redis = sharedRedis();
  let redisUp = true;
  const queues: QueueOverview[] = [];
  /** Per-minute series for the alerts (the chart holds 5-minute windows). */
  const recentMinutes = new Map<string, MinuteStats[]>();
  for (const name of queueNames) {
    const q = getQueue(name);
    try {
      const c = await q.getJobCounts("waiting", "active", "delayed", "failed", "completed", "prioritized");
      const [oldest] = await q.getJobs(["waiting", "prioritized"], 0, 0, true);
      const minutes = await readMinutes(redis, name, CHART_MINUTES, now);
      const hour = foldSeries(minutes.slice(-60), 60)[0]!;
      recentMinutes.set(name, minutes.slice(-60));
      queues.push({
        name,
        counts: { waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0, completed: c.completed ?? 0, prioritized: c.prioritized ?? 0 },
        oldestWaitingMs: oldest?.timestamp ? Math.max(0, now - oldest.timestamp) : null,
        chart: foldSeries(minutes, 5),
        lastHour: { completed: hour.completed, failed: hour.failed, stalled: hour.stalled, meanWaitMs: hour.meanWaitMs, meanRunMs: hour.meanRunMs },
      });
    } catch {
      redisUp = false;
      break;
    }
  }
  const workers = redisUp ? await readWorkers(redis).catch(() => ({ alive: [], seen: [] })) : { alive: [], seen: [] };
  const aliveIds = new Set(workers.alive.map((w) => w.id));
  const gone = workers.seen.filter((w) => !aliveIds.has(w.id));
  const disk = await diskOf(dataDir());
  const since = new Date(now - 3600_000);
  // The database may be down while Redis answers: the queues are still worth showing.
  const failures: AlertInput["failures"] = [...(await archiveFailures(prisma, since).catch(() => []))];
  let slurm: AlertInput["slurm"] = null;
  for (const e of extras) {
    if (e.failures) failures.push(...(await e.failures(prisma, since).catch(() => [])));
    if (e.slurm) slurm = (await e.slurm().catch(() => null)) ?? slurm;
  }
  const alerts = decideAlerts({
    now,
    queues: queues.map((q) => ({ name: q.name, waiting: q.counts.waiting + q.counts.prioritized, active: q.counts.active, oldestWaitingMs: q.oldestWaitingMs, recent: recentMinutes.get(q.name) ?? [] })),
    workers: [...workers.alive.map((w) => ({ id: w.id, host: w.host, lastSeenMs: w.lastSeenMs })), ...gone],
    failures,
    disk,
    slurm,
  });
  if (!redisUp) alerts.unshift({ id: "redis-down", kind: "workers-gone", severity: "critical", title: "Redis does not answer", detail: "Queues cannot be read or fed; nothing is lost (the database holds the work), but nothing moves.", action: "Start Redis or fix REDIS_URL; workers re-derive their queues from the database when it is back." });
  return { at: new Date(now), redis: redisUp, queues, workers: { alive: workers.alive, gone }, disk: disk && { path: dataDir(), ...disk }, alerts };
}

/** The file system of `dir`, or of its nearest existing parent (the data directory may not exist yet). */
async function diskOf(dir: string): Promise<{ freeBytes: number; totalBytes: number } | null> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      const s = await statfs(d);
      return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
    } catch {
      if (d === path.dirname(d)) return null;
    }
  }
}

/** Studies whose archiving failed in the last hour, by project (each project has one target). */
async function archiveFailures(prisma: PrismaClient, since: Date): Promise<AlertInput["failures"]> {
  const rows = await prisma.studyArchive.groupBy({ by: ["projectId", "targetKind"], where: { lastError: { not: null }, updatedAt: { gte: since } }, _count: { _all: true } });
  return rows.map((r) => ({ kind: "archive-target" as const, key: r.projectId, label: `of project ${r.projectId} (${r.targetKind})`, count: r._count._all }));
}
