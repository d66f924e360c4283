// Every run of a project (or of the site), whatever ran it, for `atrium runs`: id, pipeline or
// network, origin (atrium | external), state and job counts by state, newest first.
import type { PrismaClient } from "@/server/db/generated/client";
import { listReportedRuns } from "@/server/pim/read";

export interface RunSummary {
  id: string;
  project: string;
  name: string;
  pipeline: string;
  origin: "atrium" | "external";
  state: string;
  jobs: Record<string, number>;
  startedAt: string;
  finishedAt: string | null;
}

export async function listRuns(prisma: PrismaClient, projectId: string | null, limit = 100): Promise<RunSummary[]> {
  const projects = projectId ? [projectId] : (await prisma.project.findMany({ select: { id: true }, orderBy: { id: "asc" } })).map((p) => p.id);
  const out: RunSummary[] = [];
  const own = await prisma.pipelineRun.findMany({
    where: projectId ? { projectId } : {},
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: limit,
    select: { id: true, projectId: true, pipelineId: true, pipelineVersion: true, state: true, createdAt: true, endedAt: true },
  });
  const ownCounts = own.length ? await prisma.pipelineJob.groupBy({ by: ["runId", "state"], where: { runId: { in: own.map((r) => r.id) } }, _count: { _all: true } }) : [];
  for (const r of own) {
    const jobs: Record<string, number> = {};
    for (const c of ownCounts) if (c.runId === r.id) jobs[c.state] = c._count._all;
    out.push({ id: r.id, project: r.projectId, name: r.id, pipeline: `${r.pipelineId}@${r.pipelineVersion}`, origin: "atrium", state: r.state, jobs, startedAt: r.createdAt.toISOString(), finishedAt: r.endedAt?.toISOString() ?? null });
  }
  for (const p of projects) {
    const reported = await listReportedRuns(prisma, { projectId: p, limit });
    for (const r of reported.items) {
      out.push({ id: r.id, project: p, name: r.runName, pipeline: r.network, origin: "external", state: r.state, jobs: r.jobs, startedAt: r.registeredAt.toISOString(), finishedAt: r.finishedAt?.toISOString() ?? null });
    }
  }
  return out.sort((a, b) => b.startedAt.localeCompare(a.startedAt)).slice(0, limit);
}
