// A project's intake in numbers: what the intake page, `atrium status` and metrics show.
import type { PrismaClient } from "@/server/db/generated/client";
import { INTAKE_DEFAULTS } from "@/lib/intake/settings";
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
  instances: { received: number; deidentified: number; duplicate: number; skipped: number; quarantined: number; total: number };
  studies: { receiving: number; stable: number; archiving: number; archived: number; failed: number; total: number };
  quarantineReasons: { reason: string; count: number }[];
  lastReceivedAt: Date | null;
  live: IntakeLive;
}

export async function intakeSummary(prisma: PrismaClient, projectId: string): Promise<IntakeSummary> {
  const now = new Date();
  const since = new Date(now.getTime() - LIVE_WINDOW_SECONDS * 1000);
  const [byStatus, studiesByStatus, reasons, last, active, recentStudies, recentErrors, settings] = await Promise.all([
    prisma.receivedInstance.groupBy({ by: ["status"], where: { projectId }, _count: { _all: true } }),
    prisma.intakeStudy.groupBy({ by: ["status"], where: { projectId }, _count: { _all: true } }),
    prisma.receivedInstance.groupBy({
      by: ["reason"],
      where: { projectId, status: "quarantined" },
      _count: { _all: true },
      orderBy: { _count: { reason: "desc" } },
      take: 20,
    }),
    prisma.receivedInstance.findFirst({ where: { projectId }, orderBy: { receivedAt: "desc" }, select: { receivedAt: true } }),
    prisma.receivedInstance.groupBy({ by: ["channel", "batchId"], where: { projectId, receivedAt: { gte: since } }, _count: { _all: true } }),
    prisma.intakeStudy.findMany({
      where: { projectId },
      orderBy: { lastInstanceAt: "desc" },
      take: 10,
      select: { id: true, subjectLabel: true, instanceCount: true, status: true, lastInstanceAt: true },
    }),
    prisma.receivedInstance.findMany({
      where: { projectId, status: "quarantined" },
      orderBy: { updatedAt: "desc" },
      take: 10,
      select: { id: true, updatedAt: true, channel: true, reason: true },
    }),
    prisma.projectIntake.findUnique({ where: { projectId }, select: { stableAfterSeconds: true } }),
  ]);
  const perChannel = new Map<Channel, { channel: Channel; batches: number; instances: number }>();
  let inWindow = 0;
  for (const row of active) {
    const c = perChannel.get(row.channel) ?? { channel: row.channel, batches: 0, instances: 0 };
    c.batches++;
    c.instances += row._count._all;
    inWindow += row._count._all;
    perChannel.set(row.channel, c);
  }
  const stableAfter = settings?.stableAfterSeconds ?? INTAKE_DEFAULTS.stableAfterSeconds;
  const instances = { received: 0, deidentified: 0, duplicate: 0, skipped: 0, quarantined: 0, total: 0 };
  for (const row of byStatus) {
    instances[row.status] = row._count._all;
    instances.total += row._count._all;
  }
  const studies = { receiving: 0, stable: 0, archiving: 0, archived: 0, failed: 0, total: 0 };
  for (const row of studiesByStatus) {
    studies[row.status] = row._count._all;
    studies.total += row._count._all;
  }
  return {
    projectId,
    instances,
    studies,
    quarantineReasons: reasons.map((r) => ({ reason: r.reason ?? "(no reason recorded)", count: r._count._all })),
    lastReceivedAt: last?.receivedAt ?? null,
    live: {
      windowSeconds: LIVE_WINDOW_SECONDS,
      instancesPerSecond: ratePerSecond(inWindow),
      instancesInWindow: inWindow,
      activeBatches: [...perChannel.values()].sort((a, b) => a.channel.localeCompare(b.channel)),
      recentStudies: recentStudies.map((st) => ({ ...st, progress: studyProgress(st.status, st.lastInstanceAt, now, stableAfter) })),
      recentErrors: recentErrors.map((e) => ({ id: e.id, at: e.updatedAt, channel: e.channel, reason: e.reason ?? "(no reason recorded)" })),
    },
  };
}
