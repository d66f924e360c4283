// Operator alerts, decided from what the portal already reads (queue counts and recent minutes,
// worker heartbeats, failures by target, the data directory's disk, the SLURM check). Pure: the
// same input always gives the same alerts, so each rule is tested on its own.
import type { MinuteStats } from "./job-stats";

export type AlertSeverity = "warning" | "critical";
export type Alert = { id: string; kind: AlertKind; severity: AlertSeverity; title: string; detail: string; action: string };
export type AlertKind = "queue-not-draining" | "repeated-failures" | "workers-gone" | "slurm-unreachable" | "disk-filling";
export const ALERT_KINDS: AlertKind[] = ["queue-not-draining", "repeated-failures", "workers-gone", "slurm-unreachable", "disk-filling"];

export type AlertInput = {
  now: number;
  queues: { name: string; waiting: number; active: number; oldestWaitingMs: number | null; recent: MinuteStats[] }[];
  /** Worker processes seen in the last day, with their last heartbeat. */
  workers: { id: string; host: string; lastSeenMs: number }[];
  /** Failures in the last hour by what failed (an archive target, a forward destination, a tool). */
  failures: { kind: "archive-target" | "forward-destination" | "tool"; key: string; label: string; count: number }[];
  disk: { freeBytes: number; totalBytes: number } | null;
  slurm: { configured: boolean; ok: boolean; reason?: string } | null;
};

export const THRESHOLDS = {
  /** A queue whose oldest waiting job is older than this, with nothing finished meanwhile, is stuck. */
  stuckQueueMs: 10 * 60_000,
  /** A heartbeat older than this means the worker is gone. */
  workerGoneMs: 60_000,
  failuresPerHour: 5,
  diskWarnFraction: 0.1,
  diskCriticalFraction: 0.03,
  diskWarnBytes: 5 * 1024 ** 3,
};

const minutesAgo = (ms: number) => `${Math.max(1, Math.round(ms / 60_000))} min`;

export function decideAlerts(input: AlertInput): Alert[] {
  const alerts: Alert[] = [];
  const alive = input.workers.filter((w) => input.now - w.lastSeenMs <= THRESHOLDS.workerGoneMs);
  for (const q of input.queues) {
    if (!q.waiting || q.oldestWaitingMs === null || q.oldestWaitingMs < THRESHOLDS.stuckQueueMs) continue;
    const windowMinutes = Math.ceil(THRESHOLDS.stuckQueueMs / 60_000);
    const finished = q.recent.slice(-windowMinutes).reduce((s, m) => s + m.completed + m.failed, 0);
    if (finished > 0) continue;
    alerts.push({
      id: `queue-not-draining:${q.name}`,
      kind: "queue-not-draining",
      severity: "critical",
      title: `Queue ${q.name} does not drain`,
      detail: `${q.waiting} job(s) waiting, the oldest for ${minutesAgo(q.oldestWaitingMs)}, and none finished in the last ${windowMinutes} min (${q.active} active).`,
      action: alive.length ? "Look at the active jobs and the workers' logs; a job may hang." : "No worker is running: start one with `atrium worker` (or `npm start`).",
    });
  }
  const gone = input.workers.filter((w) => input.now - w.lastSeenMs > THRESHOLDS.workerGoneMs);
  const waiting = input.queues.reduce((s, q) => s + q.waiting, 0);
  if (!alive.length && (gone.length || waiting)) {
    alerts.push({
      id: "workers-gone:all",
      kind: "workers-gone",
      severity: "critical",
      title: "No worker is running",
      detail: gone.length ? `Last heartbeat ${minutesAgo(input.now - Math.max(...gone.map((w) => w.lastSeenMs)))} ago (${gone.map((w) => w.host).filter((h, i, a) => a.indexOf(h) === i).join(", ")}); ${waiting} job(s) waiting.` : `${waiting} job(s) waiting and no worker has ever reported.`,
      action: "Start the workers (`atrium worker`, or `npm start` for the all-in-one process) and check their logs for why they stopped.",
    });
  } else {
    for (const w of gone) {
      alerts.push({
        id: `workers-gone:${w.id}`,
        kind: "workers-gone",
        severity: "warning",
        title: `Worker on ${w.host} is gone`,
        detail: `No heartbeat for ${minutesAgo(input.now - w.lastSeenMs)}; ${alive.length} other worker(s) carry on.`,
        action: "If it was stopped on purpose, this clears within a day; otherwise restart it and read its log.",
      });
    }
  }
  for (const f of input.failures) {
    if (f.count < THRESHOLDS.failuresPerHour) continue;
    const what = f.kind === "tool" ? "Tool" : f.kind === "archive-target" ? "Archive target" : "Forward destination";
    alerts.push({
      id: `repeated-failures:${f.kind}:${f.key}`,
      kind: "repeated-failures",
      severity: "warning",
      title: `${what} ${f.label} keeps failing`,
      detail: `${f.count} failures in the last hour.`,
      action: f.kind === "tool" ? "Open a failed job's log on the run page." : "Use Test connection on its settings and read the failures' reasons.",
    });
  }
  if (input.slurm?.configured && !input.slurm.ok) {
    alerts.push({ id: "slurm-unreachable", kind: "slurm-unreachable", severity: "critical", title: "SLURM is unreachable", detail: input.slurm.reason ?? "The controller does not answer.", action: "Check slurmctld and SLURM_CONF; jobs for SLURM wait until it answers." });
  }
  if (input.disk && input.disk.totalBytes > 0) {
    const frac = input.disk.freeBytes / input.disk.totalBytes;
    const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
    if (frac < THRESHOLDS.diskCriticalFraction || frac < THRESHOLDS.diskWarnFraction || input.disk.freeBytes < THRESHOLDS.diskWarnBytes) {
      alerts.push({
        id: "disk-filling",
        kind: "disk-filling",
        severity: frac < THRESHOLDS.diskCriticalFraction ? "critical" : "warning",
        title: "The data directory's disk is filling up",
        detail: `${gib(input.disk.freeBytes)} free of ${gib(input.disk.totalBytes)} (${(frac * 100).toFixed(1)} %).`,
        action: "Free space or grow the volume; check staging retention (ATRIUM_STAGING_RETENTION_HOURS) and quarantined files.",
      });
    }
  }
  return alerts;
}
