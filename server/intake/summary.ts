// A project's intake in numbers: what the intake page, `atrium status` and metrics show.
import type { PrismaClient } from "@/server/db/generated/client";

export interface IntakeSummary {
  projectId: string;
  instances: { received: number; deidentified: number; duplicate: number; skipped: number; quarantined: number; total: number };
  studies: { receiving: number; stable: number; archiving: number; archived: number; failed: number; total: number };
  quarantineReasons: { reason: string; count: number }[];
  lastReceivedAt: Date | null;
}

export async function intakeSummary(prisma: PrismaClient, projectId: string): Promise<IntakeSummary> {
  const [byStatus, studiesByStatus, reasons, last] = await Promise.all([
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
  ]);
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
  };
}
