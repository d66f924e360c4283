// What pipelines stored for one experiment (issue #12, "results in Browse"): its named values (on the
// experiment, its scans and its subject) and its resources (files written back), each with the run
// that stored it. Read by the Browse panel's experiment level.
import type { PrismaClient } from "@/server/db/generated/client";

export async function experimentResults(prisma: PrismaClient, projectId: string, experimentId: string) {
  const e = await prisma.archiveExperiment.findFirst({ where: { id: experimentId, projectId }, select: { id: true, subjectId: true, scans: { select: { id: true, seriesNumber: true, seriesDescription: true } } } });
  if (!e) return null;
  const scanOf = new Map(e.scans.map((s) => [s.id, s]));
  const where = { projectId, OR: [{ experimentId }, { subjectId: e.subjectId, experimentId: null }] };
  const [values, resources] = await Promise.all([
    prisma.archiveValue.findMany({ where, orderBy: [{ name: "asc" }, { updatedAt: "desc" }], take: 1000, select: { id: true, name: true, value: true, scanId: true, experimentId: true, runId: true, updatedAt: true } }),
    prisma.archiveResource.findMany({ where, orderBy: [{ name: "asc" }, { updatedAt: "desc" }], take: 500, select: { id: true, name: true, files: true, scanId: true, experimentId: true, runId: true, updatedAt: true } }),
  ]);
  const runIds = [...new Set([...values, ...resources].map((r) => r.runId).filter((x): x is string => Boolean(x)))];
  const runs = new Map(
    runIds.length ? (await prisma.pipelineRun.findMany({ where: { id: { in: runIds }, projectId }, select: { id: true, pipelineId: true, pipelineVersion: true } })).map((r) => [r.id, `${r.pipelineId} ${r.pipelineVersion}`]) : [],
  );
  const where_ = (r: { scanId: string | null; experimentId: string | null }) => {
    if (r.scanId) {
      const s = scanOf.get(r.scanId);
      return `scan ${s?.seriesNumber ?? "?"}${s?.seriesDescription ? ` (${s.seriesDescription})` : ""}`;
    }
    return r.experimentId ? "experiment" : "subject";
  };
  const run = (id: string | null) => (id ? { id, pipeline: runs.get(id) ?? null } : null);
  return {
    values: values.map((v) => ({ id: v.id, name: v.name, value: v.value, on: where_(v), run: run(v.runId), updatedAt: v.updatedAt })),
    resources: resources.map((r) => {
      const files = Array.isArray(r.files) ? (r.files as { name?: string; size?: number }[]) : [];
      return { id: r.id, name: r.name, on: where_(r), files: files.length, bytes: files.reduce((n, f) => n + (Number(f.size) || 0), 0), run: run(r.runId), updatedAt: r.updatedAt };
    }),
  };
}
