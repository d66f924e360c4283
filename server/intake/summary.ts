// A project's intake in numbers: what the intake page, `atrium status` and metrics show.
import type { PrismaClient } from "@/server/db/generated/client";
import { INTAKE_DEFAULTS } from "@/lib/intake/defaults";
import { LIVE_WINDOW_SECONDS, ratePerSecond, studyProgress, type StudyStatus } from "@/lib/intake/live";

type Channel = "cstore" | "stow" | "webhook" | "upload";

/** What is arriving now (the last LIVE_WINDOW_SECONDS). De-identified values only. */
export interface IntakeLive {
  windowSeconds: number;
  /** Instances received per second over the window. */
  instancesPerSecond: number;
  instancesInWindow: number;
  /** Senders active in the window, per way in: associations (C-STORE), STOW requests, webhook pulls, upload sessions. */
  activeBatches: { channel: Channel; batches: number; instances: number }[];
  /** The latest studies: subject pseudonym, instances, status and progress (0–100). */
  recentStudies: { id: string; subjectLabel: string; instanceCount: number; status: StudyStatus; progress: number; lastInstanceAt: Date }[];
  /** The latest quarantined instances' reasons. */
  recentErrors: { id: string; at: Date; channel: Channel; reason: string }[];
}

export interface IntakeSummary {
  projectId: string;
  instances: { received: number; deidentified: number; duplicate: number; skipped: number; quarantined: number; review: number; total: number };
  studies: { receiving: number; stable: number; archiving: number; archived: number; failed: number; total: number };
  quarantineReasons: { reason: string; count: number }[];
  lastReceivedAt: Date | null;
  live: IntakeLive;
}

/** Runs one SQL query with positional parameters and returns its rows. */
export type SqlQuery = <T>(sql: string, params: unknown[]) => Promise<T[]>;

/** The summary through the app's database handle (the portal, the operator route). */
export async function intakeSummary(prisma: PrismaClient, projectId: string): Promise<IntakeSummary> {
  // Loaded here: `atrium status` imports this module without the Prisma client (see intakeSummaryFrom).
  const { sqlRows } = await import("@/server/db");
  return intakeSummaryFrom((sql, params) => sqlRows(prisma, sql, params), projectId);
}

// Timestamps are stored as UTC without a zone: read them as ISO text, so that every driver (Prisma's
// adapters, plain pg in `atrium status`) gives the same instant whatever the process's time zone.
const iso = (col: string) => `to_char(${col}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The summary over plain SQL: `atrium status` reads it with the pg driver alone, without loading
 * the Prisma client (most of its start-up time).
 */
export async function intakeSummaryFrom(query: SqlQuery, projectId: string): Promise<IntakeSummary> {
  const now = new Date();
  const since = new Date(now.getTime() - LIVE_WINDOW_SECONDS * 1000);
  const sinceText = since.toISOString().replace("T", " ").replace("Z", "");
  type Count = { n: number };
  const [byStatus, studiesByStatus, reasons, last, active, recentStudies, recentErrors, settings] = await Promise.all([
    query<Count & { status: keyof IntakeSummary["instances"] }>(
      `SELECT status::text AS status, count(*)::int AS n FROM "ReceivedInstance" WHERE "projectId" = $1 GROUP BY status`,
      [projectId],
    ),
    query<Count & { status: StudyStatus }>(`SELECT status::text AS status, count(*)::int AS n FROM "IntakeStudy" WHERE "projectId" = $1 GROUP BY status`, [projectId]),
    query<Count & { reason: string | null }>(
      `SELECT reason, count(*)::int AS n FROM "ReceivedInstance" WHERE "projectId" = $1 AND status = 'quarantined' GROUP BY reason ORDER BY count(reason) DESC LIMIT 20`,
      [projectId],
    ),
    query<{ at: string }>(`SELECT ${iso('"receivedAt"')} AS at FROM "ReceivedInstance" WHERE "projectId" = $1 ORDER BY "receivedAt" DESC LIMIT 1`, [projectId]),
    query<Count & { channel: Channel }>(
      `SELECT channel::text AS channel, count(*)::int AS n FROM "ReceivedInstance" WHERE "projectId" = $1 AND "receivedAt" >= $2::timestamp GROUP BY channel, "batchId"`,
      [projectId, sinceText],
    ),
    query<{ id: string; subjectLabel: string; instanceCount: number; status: StudyStatus; lastInstanceAt: string }>(
      `SELECT id, "subjectLabel", "instanceCount", status::text AS status, ${iso('"lastInstanceAt"')} AS "lastInstanceAt"
         FROM "IntakeStudy" WHERE "projectId" = $1 ORDER BY "lastInstanceAt" DESC LIMIT 10`,
      [projectId],
    ),
    query<{ id: string; updatedAt: string; channel: Channel; reason: string | null }>(
      `SELECT id, ${iso('"updatedAt"')} AS "updatedAt", channel::text AS channel, reason
         FROM "ReceivedInstance" WHERE "projectId" = $1 AND status = 'quarantined' ORDER BY "updatedAt" DESC LIMIT 10`,
      [projectId],
    ),
    query<{ stableAfterSeconds: number }>(`SELECT "stableAfterSeconds" FROM "ProjectIntake" WHERE "projectId" = $1`, [projectId]),
  ]);
  const perChannel = new Map<Channel, { channel: Channel; batches: number; instances: number }>();
  let inWindow = 0;
  for (const row of active) {
    const n = Number(row.n);
    const c = perChannel.get(row.channel) ?? { channel: row.channel, batches: 0, instances: 0 };
    c.batches++;
    c.instances += n;
    inWindow += n;
    perChannel.set(row.channel, c);
  }
  const stableAfter = settings[0]?.stableAfterSeconds ?? INTAKE_DEFAULTS.stableAfterSeconds;
  const instances = { received: 0, deidentified: 0, duplicate: 0, skipped: 0, quarantined: 0, review: 0, total: 0 };
  for (const row of byStatus) {
    instances[row.status] = Number(row.n);
    instances.total += Number(row.n);
  }
  const studies = { receiving: 0, stable: 0, archiving: 0, archived: 0, failed: 0, total: 0 };
  for (const row of studiesByStatus) {
    studies[row.status] = Number(row.n);
    studies.total += Number(row.n);
  }
  return {
    projectId,
    instances,
    studies,
    quarantineReasons: reasons.map((r) => ({ reason: r.reason ?? "(no reason recorded)", count: Number(r.n) })),
    lastReceivedAt: last[0] ? new Date(last[0].at) : null,
    live: {
      windowSeconds: LIVE_WINDOW_SECONDS,
      instancesPerSecond: ratePerSecond(inWindow),
      instancesInWindow: inWindow,
      activeBatches: [...perChannel.values()].sort((a, b) => a.channel.localeCompare(b.channel)),
      recentStudies: recentStudies.map((st) => {
        const lastInstanceAt = new Date(st.lastInstanceAt);
        return { id: st.id, subjectLabel: st.subjectLabel, instanceCount: Number(st.instanceCount), status: st.status, lastInstanceAt, progress: studyProgress(st.status, lastInstanceAt, now, stableAfter) };
      }),
      recentErrors: recentErrors.map((e) => ({ id: e.id, at: new Date(e.updatedAt), channel: e.channel, reason: e.reason ?? "(no reason recorded)" })),
    },
  };
}
