// Reading runs and jobs for the portal, the CLI and monitoring: runs with job counts by state
// (paged, newest first), a run with its jobs, a job with the end of its log, the run's PROV-JSON.
import { open } from "node:fs/promises";
import type { PrismaClient, PipelineJobState } from "@/server/db/generated/client";
import { provDocument } from "@/lib/pipelines/prov";

export class PipelineNotFoundError extends Error {
  override readonly name = "PipelineNotFoundError";
}

export type JobCounts = Partial<Record<PipelineJobState, number>>;

async function countsByRun(prisma: PrismaClient, runIds: string[]): Promise<Map<string, JobCounts>> {
  const rows = runIds.length ? await prisma.pipelineJob.groupBy({ by: ["runId", "state"], where: { runId: { in: runIds } }, _count: true }) : [];
  const out = new Map<string, JobCounts>();
  for (const r of rows) {
    const c = out.get(r.runId) ?? {};
    c[r.state] = r._count;
    out.set(r.runId, c);
  }
  return out;
}

const runView = (r: { id: string; pipelineId: string; pipelineVersion: string; state: string; executor: string; startedBy: string; experimentIds: string[]; error: string | null; notes: string[]; createdAt: Date; startedAt: Date | null; endedAt: Date | null; priority: number }, jobs: JobCounts) => ({
  id: r.id,
  pipelineId: r.pipelineId,
  pipelineVersion: r.pipelineVersion,
  state: r.state,
  executor: r.executor,
  startedBy: r.startedBy,
  experimentIds: r.experimentIds,
  error: r.error,
  notes: r.notes,
  priority: r.priority,
  createdAt: r.createdAt,
  startedAt: r.startedAt,
  endedAt: r.endedAt,
  /** Jobs by state. */
  counts: jobs,
  total: Object.values(jobs).reduce((a, b) => a + (b ?? 0), 0),
});

export async function listRuns(prisma: PrismaClient, projectId: string, opts: { cursor?: string; limit?: number; experimentId?: string } = {}) {
  const limit = Math.min(Math.max(opts.limit ?? 50, 1), 200);
  const rows = await prisma.pipelineRun.findMany({
    where: { projectId, ...(opts.experimentId ? { experimentIds: { has: opts.experimentId } } : {}) },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: limit + 1,
    ...(opts.cursor ? { cursor: { id: opts.cursor }, skip: 1 } : {}),
  });
  const page = rows.slice(0, limit);
  const counts = await countsByRun(prisma, page.map((r) => r.id));
  return { runs: page.map((r) => runView(r, counts.get(r.id) ?? {})), nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
}

export async function getRun(prisma: PrismaClient, projectId: string, runId: string) {
  const run = await prisma.pipelineRun.findFirst({ where: { id: runId, projectId }, include: { jobs: { orderBy: { key: "asc" } }, pipeline: { select: { definition: true, sourceText: true } } } });
  if (!run) throw new PipelineNotFoundError(`No run ${runId} in project ${projectId}.`);
  const counts = (await countsByRun(prisma, [run.id])).get(run.id) ?? {};
  return {
    ...runView(run, counts),
    definition: run.pipeline.definition,
    jobs: run.jobs.map((j) => ({
      id: j.id,
      key: j.key,
      node: j.node,
      sample: j.sample,
      level: j.level,
      state: j.state,
      after: j.after,
      attempt: j.attempt,
      toolId: j.toolId,
      toolVersion: j.toolVersion,
      executor: j.executor,
      host: j.host,
      exitCode: j.exitCode,
      reason: j.reason,
      startedAt: j.startedAt,
      endedAt: j.endedAt,
      peakMemoryKb: j.peakMemoryKb,
      reusedFromJobId: j.reusedFromJobId,
    })),
  };
}

/** The last `bytes` of a log file ("" when there is none yet). */
export async function readLogTail(logPath: string, bytes = 64 * 1024): Promise<{ text: string; size: number; truncated: boolean }> {
  const fh = await open(logPath, "r").catch(() => null);
  if (!fh) return { text: "", size: 0, truncated: false };
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    return { text: buf.toString("utf8"), size, truncated: start > 0 };
  } finally {
    await fh.close();
  }
}

export async function getJob(prisma: PrismaClient, projectId: string, jobId: string) {
  const j = await prisma.pipelineJob.findFirst({ where: { id: jobId, run: { projectId } } });
  if (!j) throw new PipelineNotFoundError(`No job ${jobId} in project ${projectId}.`);
  return {
    id: j.id,
    runId: j.runId,
    key: j.key,
    node: j.node,
    sample: j.sample,
    state: j.state,
    attempt: j.attempt,
    toolId: j.toolId,
    toolVersion: j.toolVersion,
    executor: j.executor,
    host: j.host,
    externalId: j.externalId,
    command: j.command,
    exitCode: j.exitCode,
    reason: j.reason,
    queuedAt: j.queuedAt,
    startedAt: j.startedAt,
    endedAt: j.endedAt,
    peakMemoryKb: j.peakMemoryKb,
    outputs: j.outputs,
    inputHashes: j.inputHashes,
    outputHashes: j.outputHashes,
    provenance: j.provenance,
    cacheKey: j.cacheKey,
    reusedFromJobId: j.reusedFromJobId,
    log: await readLogTail(j.logPath),
  };
}

/** The run as a W3C PROV-JSON document. */
export async function runProvenance(prisma: PrismaClient, projectId: string, runId: string) {
  const run = await prisma.pipelineRun.findFirst({ where: { id: runId, projectId }, include: { jobs: true } });
  if (!run) throw new PipelineNotFoundError(`No run ${runId} in project ${projectId}.`);
  const idOf = new Map(run.jobs.map((j) => [j.key, j.id]));
  return provDocument(
    { id: run.id, pipelineId: run.pipelineId, pipelineVersion: run.pipelineVersion, startedAt: run.startedAt, endedAt: run.endedAt },
    run.jobs.map((j) => ({
      id: j.id,
      node: j.node,
      sample: j.sample,
      toolId: j.toolId,
      toolVersion: j.toolVersion,
      command: j.command,
      startedAt: j.startedAt,
      endedAt: j.endedAt,
      state: j.state,
      inputHashes: (j.inputHashes ?? {}) as Record<string, string>,
      outputHashes: (j.outputHashes ?? {}) as Record<string, string>,
      after: j.after.map((k) => idOf.get(k) ?? k),
    })),
  );
}

/** What a run wrote to the archive: its values and resources (ids, names, values; files by name and size). */
export async function runResults(prisma: PrismaClient, projectId: string, runId: string) {
  const [values, resources] = await Promise.all([
    prisma.archiveValue.findMany({ where: { projectId, runId }, orderBy: [{ experimentId: "asc" }, { scanId: "asc" }, { name: "asc" }] }),
    prisma.archiveResource.findMany({ where: { projectId, runId }, orderBy: [{ experimentId: "asc" }, { scanId: "asc" }, { name: "asc" }] }),
  ]);
  return {
    values: values.map((v) => ({ subjectId: v.subjectId, experimentId: v.experimentId, scanId: v.scanId, name: v.name, value: v.value, jobId: v.jobId })),
    resources: resources.map((r) => ({ id: r.id, subjectId: r.subjectId, experimentId: r.experimentId, scanId: r.scanId, name: r.name, files: (r.files as { name: string; size: number; sha256: string }[]).map((f) => ({ name: f.name, size: f.size, sha256: f.sha256 })), jobId: r.jobId })),
  };
}
