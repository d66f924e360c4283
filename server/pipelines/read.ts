// Reading runs and jobs for the portal, the CLI and monitoring: runs with job counts by state
// (paged, newest first), a run with its jobs, a job with the end of its log, the run's PROV-JSON.
import { open } from "node:fs/promises";
import type { PrismaClient, PipelineJobState } from "@/server/db/generated/client";
import { provDocument } from "@/lib/pipelines/prov";
import type { LogEvent } from "@/lib/pipelines/api";

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

/** Up to `max` bytes of a log from `offset` (a whole number of UTF-8 characters); `next` is where to read on. */
export async function readLogFrom(logPath: string, offset: number, max = 256 * 1024): Promise<{ text: string; next: number; size: number }> {
  const fh = await open(logPath, "r").catch(() => null);
  if (!fh) return { text: "", next: offset, size: 0 };
  try {
    const { size } = await fh.stat();
    if (size <= offset) return { text: "", next: Math.min(offset, size), size };
    const buf = Buffer.alloc(Math.min(max, size - offset));
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    let end = bytesRead;
    // Do not cut a multi-byte character: stop before an incomplete one at the end.
    for (let i = 1; i <= 3 && end - i >= 0; i++) {
      const b = buf[end - i]!;
      if ((b & 0xc0) === 0x80) continue;
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      if (need > i) end -= i;
      break;
    }
    return { text: buf.subarray(0, end).toString("utf8"), next: offset + end, size };
  } finally {
    await fh.close();
  }
}

export type { LogEvent } from "@/lib/pipelines/api";

const TERMINAL = new Set(["succeeded", "failed", "cancelled", "timed_out", "out_of_memory", "skipped"]);

/**
 * A job's log as it grows: its tail first, then every append (polled every `intervalMs`), and its
 * state when it changes; it ends after the job has ended and its last bytes are sent.
 */
export async function* followJobLog(prisma: PrismaClient, projectId: string, jobId: string, signal?: AbortSignal, intervalMs = 500): AsyncGenerator<LogEvent> {
  const first = await prisma.pipelineJob.findFirst({ where: { id: jobId, run: { projectId } }, select: { logPath: true, state: true } });
  if (!first) throw new PipelineNotFoundError(`No job ${jobId} in project ${projectId}.`);
  const tail = await readLogTail(first.logPath);
  let offset = tail.size;
  let state: string = first.state;
  yield { kind: "tail", text: tail.text, truncated: tail.truncated, offset, state };
  while (!signal?.aborted) {
    const more = await readLogFrom(first.logPath, offset);
    if (more.text) {
      offset = more.next;
      yield { kind: "append", text: more.text, offset };
      continue;
    }
    const now = await prisma.pipelineJob.findUnique({ where: { id: jobId }, select: { state: true } });
    if (!now || TERMINAL.has(now.state)) {
      // Its last bytes first, then how it ended.
      for (let last = await readLogFrom(first.logPath, offset); last.text; last = await readLogFrom(first.logPath, offset)) {
        offset = last.next;
        yield { kind: "append", text: last.text, offset };
      }
      if (now && now.state !== state) yield { kind: "state", state: now.state };
      return;
    }
    if (now.state !== state) {
      state = now.state;
      yield { kind: "state", state };
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, intervalMs);
      signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }
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
