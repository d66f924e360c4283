// One pipeline job, as the compute worker runs it: claim the row (queued → running), stage its
// inputs into the job's work directory (scans and resources from the archive, outputs of upstream
// jobs, values), reuse the outputs of an identical earlier job when there is one (same tool
// version, parameters and input checksums), else build the command and run it on the run's
// executor while watching for a cancel; then find the outputs, checksum them, write the sinks back
// to the archive (files first, then the index in one transaction: never half-written), record
// provenance, and dispatch what waited for this job.
//
// A worker that died mid-job leaves the row "running" with the executor's id (pid or SLURM job
// id): the job comes back from the queue and the next worker re-attaches to it instead of
// submitting it again.
import { constants as fsc, existsSync } from "node:fs";
import { appendFile, copyFile, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import type { Prisma, PrismaClient, PipelineJob, PipelineRun } from "@/server/db/generated/client";
import { archiveBlobStore, type BlobStore } from "@/lib/blob";
import { buildCommand, type InputValues } from "@/lib/pipelines/command";
import { discoverOutputs, type FoundOutput } from "@/lib/pipelines/outputs";
import type { PlannedInput } from "@/lib/pipelines/plan";
import { logTail, place, reuseKey, sha256Path } from "@/lib/pipelines/runner";
import { isFileType, type Scalar, type ToolDefinition } from "@/lib/pipelines/schema";
import type { SourceRef } from "@/lib/pipelines/sources";
import type { AnalyzedPipeline } from "@/lib/pipelines/validate";
import { getExecutor, type Executor } from "@/lib/pipelines/executors";
import type { JobOutcome, JobSpec, SubmittedJob } from "@/lib/pipelines/executors/types";
import { childLog } from "@/lib/log";
import { sqlRows } from "@/server/db";
import { Coalescer } from "@/lib/db/coalesce";
import { stageXnatResource, stageXnatScan, writeXnatResources, xnatReason, XnatStageError } from "@/lib/pipelines/xnat";
import type { XnatClient } from "@/lib/xnat";
import { analyzeStoredById, missingBinaries } from "./registry";
import { projectXnat, xnatExperimentOf, type ProjectXnat } from "./xnat";
import { dispatchProject, recordJobResult, type JobResult } from "./runs";

const log = childLog("compute");

class JobFailure extends Error {
  override readonly name = "JobFailure";
}

export interface ComputeDeps {
  executor?: (name: string) => Executor;
  store?: BlobStore;
  /** How often a running job looks for a cancel (ms). */
  cancelPollMs?: number;
}

type StoredOutputs = Record<string, { files: string[] } | { value: Scalar | Scalar[] }>;

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[._]+/, "") || "file";

/**
 * A fresh, empty work directory with its out/ (an earlier attempt's is removed first), made with
 * one call in the common case: creating a directory is a slow system call on some hosts (~0.25 ms
 * of kernel time), so it runs on the thread pool rather than on the event loop.
 */
async function freshWorkDir(workDir: string, outdir: string) {
  // The first directory it made: workDir or one above it when workDir was not there before.
  const made = await mkdir(outdir, { recursive: true });
  if (made !== undefined && path.relative(made, workDir).split(path.sep)[0] !== "..") return;
  await rm(workDir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
}

/** The project's XNAT, connected on first use by a job and closed when the job is done with it. */
class XnatSession {
  private session: Promise<{ x: ProjectXnat; client: XnatClient }> | null = null;
  constructor(
    private readonly prisma: PrismaClient,
    private readonly projectId: string,
  ) {}
  get(): Promise<{ x: ProjectXnat; client: XnatClient }> {
    this.session ??= (async () => {
      const x = await projectXnat(this.prisma, this.projectId).catch((e: Error) => {
        throw new JobFailure(e.message);
      });
      if (!x) throw new JobFailure(`Project ${this.projectId}'s archive is no longer an XNAT, but this run's inputs are on one; start the run again.`);
      const client = await x.connect().catch((e: Error) => {
        throw new JobFailure(e.message);
      });
      return { x, client };
    })();
    this.session.catch(() => undefined);
    return this.session;
  }
  async close() {
    const s = this.session;
    this.session = null;
    if (s) await (await s.catch(() => null))?.client.close().catch(() => undefined);
  }
}

type StagedInstance = { blobKey: string; instanceNumber: number | null; sopInstanceUid: string };
/** Scan id → its instances in the project's archive, read when the job was claimed (a scan not there has no entry). */
type ScanInstances = Record<string, StagedInstance[]>;

async function stageFromArchive(prisma: PrismaClient, store: BlobStore, xnat: XnatSession, projectId: string, ref: SourceRef, type: string, dest: string, claimed?: ScanInstances): Promise<string> {
  if (ref.kind === "xnat-scan" || ref.kind === "xnat-resource") {
    const { x, client } = await xnat.get();
    try {
      return ref.kind === "xnat-scan" ? await stageXnatScan(client, x.project, ref, dest) : await stageXnatResource(client, x.project, ref, type, dest);
    } catch (e) {
      throw new JobFailure(e instanceof XnatStageError ? e.message : `Input could not be read from XNAT: ${xnatReason(e)}`);
    }
  }
  await mkdir(dest, { recursive: true });
  const write = async (key: string, to: string) => {
    const local = store.localPath(key);
    // A copy (a reflink where the filesystem has them), never a hard link: a tool must not be able to change the archive.
    if (local && existsSync(local)) await copyFile(local, to, fsc.COPYFILE_FICLONE);
    else await writeFile(to, await store.read(key));
  };
  if (ref.kind === "scan") {
    // The scan's instances, if the scan is in this project's archive: read with the claim, or here.
    const instances = claimed
      ? (claimed[ref.scanId] ?? [])
      : await sqlRows<StagedInstance>(
          prisma,
          `SELECT i."blobKey", i."instanceNumber", i."sopInstanceUid" FROM "ArchiveInstance" i
           JOIN "ArchiveScan" s ON s.id = i."scanId" JOIN "ArchiveExperiment" e ON e.id = s."experimentId"
           WHERE s.id = $1 AND e."projectId" = $2`,
          [ref.scanId, projectId],
          "pipelines.stageScan",
        );
    const scan = { instances };
    if (!scan.instances.length) throw new JobFailure(`Input scan ${ref.scanId} is no longer in the archive (or has no files); re-run the pipeline on the experiment as it is now.`);
    const sorted = [...scan.instances].sort((a, b) => (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0) || a.sopInstanceUid.localeCompare(b.sopInstanceUid));
    try {
      for (const [i, inst] of sorted.entries()) await write(inst.blobKey, path.join(dest, `${String(i + 1).padStart(6, "0")}.dcm`));
    } catch (e) {
      if ((e as Error).name === "BlobNotFoundError") throw new JobFailure(`A file of input scan ${ref.scanId} is missing from the archive's store; check the archive (its index and files disagree).`);
      throw e;
    }
    return dest;
  }
  const res = await prisma.archiveResource.findFirst({ where: { id: ref.resourceId, projectId } });
  if (!res) throw new JobFailure(`Input resource ${ref.resourceId} is no longer in the archive; run the pipeline that writes it again.`);
  const files = res.files as { name: string; blobKey: string }[];
  for (const f of files) await write(f.blobKey, path.join(dest, safeName(f.name)));
  return type !== "directory" && files.length === 1 ? path.join(dest, safeName(files[0]!.name)) : dest;
}

/**
 * Looks for a cancel of the jobs this process follows: one statement for all of them every
 * `pollMs` (one poll per process, database and interval), not a query per job and interval.
 */
class CancelWatch {
  private readonly followed = new Map<symbol, { jobId: string; onCancel: () => void }>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private polling = false;
  constructor(
    private readonly prisma: PrismaClient,
    private readonly pollMs: number,
  ) {}

  /** Calls `onCancel` (once) when the job or its run is asked to cancel; returns the function that stops watching. */
  watch(jobId: string, onCancel: () => void): () => void {
    const token = Symbol(jobId);
    this.followed.set(token, { jobId, onCancel });
    this.timer ??= setInterval(() => void this.poll(), this.pollMs);
    return () => {
      this.followed.delete(token);
      if (!this.followed.size && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  private async poll() {
    if (this.polling || !this.followed.size) return;
    this.polling = true;
    try {
      const ids = [...new Set([...this.followed.values()].map((f) => f.jobId))];
      const asked = await sqlRows<{ id: string }>(
        this.prisma,
        `SELECT j.id FROM "PipelineJob" j JOIN "PipelineRun" r ON r.id = j."runId" WHERE j.id = ANY($1::text[]) AND (j."cancelRequested" OR r."cancelRequested")`,
        [ids],
        "pipelines.cancelPoll",
      );
      const cancel = new Set(asked.map((r) => r.id));
      for (const [token, f] of this.followed)
        if (cancel.has(f.jobId)) {
          this.followed.delete(token);
          f.onCancel();
        }
    } catch {
      /* the next poll asks again */
    } finally {
      this.polling = false;
    }
  }
}
const cancelWatches = new WeakMap<PrismaClient, Map<number, CancelWatch>>();
function cancelWatch(prisma: PrismaClient, pollMs: number): CancelWatch {
  let byMs = cancelWatches.get(prisma);
  if (!byMs) cancelWatches.set(prisma, (byMs = new Map()));
  let w = byMs.get(pollMs);
  if (!w) byMs.set(pollMs, (w = new CancelWatch(prisma, pollMs)));
  return w;
}

/**
 * The binaries a tool needs that are not on this host, as missingBinaries says; an answer that all
 * are there is trusted for a minute (looking along PATH cost a failed system call, and an exception,
 * per directory and job). A binary removed meanwhile still fails the job clearly (exit 127).
 */
const binariesFound = new Map<string, number>();
function binariesMissing(tool: ToolDefinition): string[] {
  const key = `${process.env.PATH ?? ""}\0${tool.requires.binaries.join("\0")}`;
  if ((binariesFound.get(key) ?? 0) > Date.now()) return [];
  const missing = missingBinaries(tool);
  if (!missing.length) binariesFound.set(key, Date.now() + 60_000);
  return missing;
}

/** Runs (or re-attaches to) one job. Never throws for the job's own failures: they are recorded on the row. */
type JobWithRun = PipelineJob & { run: PipelineRun; scanInstances?: ScanInstances };

/**
 * The claim: each queued job of the given attempt, neither it nor its run asked to cancel, becomes
 * running (and its run too, the first time), returned with its run. `q` names the (id, attempt)
 * pairs: one pair's parameters, or a JSON list of them (jobs claimed together).
 */
const claimSql = (q: string, hostParam: string) => `WITH q AS (${q}),
     c AS (
       UPDATE "PipelineJob" j SET state = 'running', "startedAt" = now() AT TIME ZONE 'UTC', host = ${hostParam}, "updatedAt" = now() AT TIME ZONE 'UTC'
       FROM "PipelineRun" r, q
       WHERE j.id = q.id AND j.attempt = q.attempt AND j.state = 'queued' AND NOT j."cancelRequested" AND r.id = j."runId" AND NOT r."cancelRequested"
       RETURNING j.*),
     r AS (
       UPDATE "PipelineRun" r SET state = 'running', "startedAt" = now() AT TIME ZONE 'UTC', "updatedAt" = now() AT TIME ZONE 'UTC'
       WHERE r.id IN (SELECT "runId" FROM c) AND r.state = 'queued' RETURNING r.id)
     -- Three JSON columns, not the job's ~30: the driver parses each column of a row on its own.
     SELECT c.id, row_to_json(c) AS job, row_to_json(run) AS run,
       -- The instances of the scans its inputs name (staging needs no query of its own).
       (SELECT COALESCE(jsonb_object_agg(x.id, x.instances), '{}'::jsonb) FROM (
          SELECT s.id, jsonb_agg(jsonb_build_object('blobKey', i."blobKey", 'instanceNumber', i."instanceNumber", 'sopInstanceUid', i."sopInstanceUid")) AS instances
            FROM (SELECT DISTINCT jsonb_path_query(c.inputs, '$.*.items[*].ref ? (@.kind == "scan").scanId') #>> '{}' AS id) ref
            JOIN "ArchiveScan" s ON s.id = ref.id JOIN "ArchiveExperiment" e ON e.id = s."experimentId" AND e."projectId" = run."projectId"
            JOIN "ArchiveInstance" i ON i."scanId" = s.id
           GROUP BY s.id) x) AS "scanInstances"
     FROM c JOIN "PipelineRun" run ON run.id = c."runId"`;
const CLAIM_ONE_SQL = claimSql(`SELECT $1::text AS id, $2::int AS attempt`, "$3");
const CLAIM_MANY_SQL = claimSql(`SELECT * FROM jsonb_to_recordset($1::jsonb) AS q(id text, attempt int)`, "$2");

type ClaimRow = { id: string; job: Record<string, unknown>; run: Record<string, unknown>; scanInstances: ScanInstances };
function claimedJob(row: ClaimRow | undefined): JobWithRun | null {
  if (!row) return null;
  // Timestamps come as JSON text (UTC without a zone, as Prisma keeps them).
  const job = row.job;
  for (const k of ["queuedAt", "startedAt", "endedAt", "updatedAt"]) if (typeof job[k] === "string") job[k] = new Date(`${job[k] as string}Z`);
  // The fields of the run a job uses are plain values (no dates), so its JSON form serves.
  return { ...(job as unknown as PipelineJob), run: row.run as unknown as PipelineRun, scanInstances: row.scanInstances };
}

type Earlier = { id: string; runId: string; workDir: string; outputs: unknown };
type ReuseQuery = { id: string; cacheKey: string; toolId: string; toolVersion: string };
type Submitted = { id: string; externalId: string; host: string; command: string[]; cacheKey: string; provenance: unknown };

/**
 * A job's own statements — its claim, its reuse lookup, the record of its submission — each made
 * together with the same statements of the other jobs this worker runs when they come close (a
 * Coalescer per kind and database): under load that is one statement for several jobs.
 */
class JobStatements {
  constructor(private readonly prisma: PrismaClient) {}

  readonly claim = new Coalescer<{ id: string; attempt: number }, JobWithRun | null>(
    async (items) => {
      const rows = await sqlRows<ClaimRow>(this.prisma, CLAIM_MANY_SQL, [JSON.stringify(items), hostname()], "pipelines.claimMany");
      const byId = new Map(rows.map((r) => [r.id, r]));
      // A job asked for twice in one batch (a duplicate delivery) is claimed once: by the first asker.
      return items.map((i) => {
        const row = byId.get(i.id);
        byId.delete(i.id);
        return claimedJob(row);
      });
    },
    async (i) => claimedJob((await sqlRows<ClaimRow>(this.prisma, CLAIM_ONE_SQL, [i.id, i.attempt, hostname()], "pipelines.claimOne"))[0]),
  );

  /** The outputs of earlier jobs with the same content address (latest first, at most 5). */
  readonly reuse = new Coalescer<ReuseQuery, Earlier[]>(
    async (items) => {
      const rows = await sqlRows<Earlier & { n: number }>(
        this.prisma,
        `SELECT q.n, e.id, e."runId", e."workDir", e.outputs
         FROM jsonb_to_recordset($1::jsonb) AS q(n int, id text, "cacheKey" text, "toolId" text, "toolVersion" text)
         CROSS JOIN LATERAL (
           SELECT id, "runId", "workDir", outputs, "endedAt" FROM "PipelineJob"
           WHERE "cacheKey" = q."cacheKey" AND state = 'succeeded' AND id <> q.id AND "toolId" = q."toolId" AND "toolVersion" = q."toolVersion"
           ORDER BY "endedAt" DESC LIMIT 5) e
         ORDER BY q.n, e."endedAt" DESC`,
        [JSON.stringify(items.map((i, n) => ({ ...i, n })))],
        "pipelines.reuseLookupMany",
      );
      return items.map((_i, n) => rows.filter((r) => r.n === n).map(({ n: _n, ...e }) => e));
    },
    (i) =>
      sqlRows<Earlier>(
        this.prisma,
        `SELECT id, "runId", "workDir", outputs FROM "PipelineJob"
         WHERE "cacheKey" = $1 AND state = 'succeeded' AND id <> $2 AND "toolId" = $3 AND "toolVersion" = $4
         ORDER BY "endedAt" DESC LIMIT 5`,
        [i.cacheKey, i.id, i.toolId, i.toolVersion],
        "pipelines.reuseLookup",
      ),
  );

  readonly submitted = new Coalescer<Submitted, void>(
    async (items) => {
      await sqlRows(
        this.prisma,
        `UPDATE "PipelineJob" j SET "externalId" = s."externalId", host = s.host, command = ARRAY(SELECT jsonb_array_elements_text(s.command)), "cacheKey" = s."cacheKey",
           provenance = s.provenance, "updatedAt" = now() AT TIME ZONE 'UTC'
         FROM jsonb_to_recordset($1::jsonb) AS s(id text, "externalId" text, host text, command jsonb, "cacheKey" text, provenance jsonb) WHERE j.id = s.id`,
        [JSON.stringify(items)],
        "pipelines.submittedMany",
      );
      return items.map(() => undefined);
    },
    async (i) => {
      await sqlRows(
        this.prisma,
        `UPDATE "PipelineJob" SET "externalId" = $2, host = $3, command = $4::text[], "cacheKey" = $5, provenance = $6::jsonb, "updatedAt" = now() AT TIME ZONE 'UTC' WHERE id = $1`,
        [i.id, i.externalId, i.host, i.command, i.cacheKey, JSON.stringify(i.provenance)],
        "pipelines.submitted",
      );
    },
  );
}
const jobStatements = new WeakMap<PrismaClient, JobStatements>();
/** The shared statements of the jobs run with this database client (exported for tests). */
export function statementsOf(prisma: PrismaClient): JobStatements {
  let s = jobStatements.get(prisma);
  if (!s) jobStatements.set(prisma, (s = new JobStatements(prisma)));
  return s;
}

export async function processComputeJob(prisma: PrismaClient, jobId: string, attempt: number, deps: ComputeDeps = {}): Promise<{ state: string }> {
  let job: JobWithRun | null = await statementsOf(prisma).claim.add({ id: jobId, attempt });
  const claimedNow = Boolean(job);
  job ??= await prisma.pipelineJob.findUnique({ where: { id: jobId }, include: { run: true } });
  if (!job || job.attempt !== attempt) return { state: "stale" };
  const reattach = !claimedNow && job.state === "running" && Boolean(job.externalId);
  if (!reattach && !claimedNow) {
    if (job.state === "running") {
      // A worker died between claiming and submitting: nothing ran; start over.
      await prisma.pipelineJob.updateMany({ where: { id: jobId, state: "running", externalId: null, attempt }, data: { state: "queued" } });
      job = { ...job, state: "queued" };
    }
    if (job.state !== "queued") return { state: job.state };
    if (job.run.cancelRequested || job.cancelRequested) {
      await prisma.pipelineJob.updateMany({ where: { id: jobId, state: "queued" }, data: { state: "cancelled", reason: "Cancelled before it ran.", endedAt: new Date() } });
      await dispatchProject(prisma, job.run.projectId);
      return { state: "cancelled" };
    }
    const claimed = await prisma.pipelineJob.updateMany({ where: { id: jobId, state: "queued", attempt }, data: { state: "running", startedAt: new Date(), host: hostname() } });
    if (!claimed.count) return { state: "taken" };
    if (job.run.state === "queued") await prisma.pipelineRun.updateMany({ where: { id: job.runId, state: "queued" }, data: { state: "running", startedAt: new Date() } });
  }
  let result: JobResult;
  const xnat = new XnatSession(prisma, job.run.projectId);
  try {
    result = await execute(prisma, job, job.run, reattach, deps, xnat);
  } catch (e) {
    const reason = e instanceof JobFailure ? e.message : `Internal error while running the job (${(e as Error).name}: ${(e as Error).message})`.slice(0, 1000);
    if (!(e instanceof JobFailure)) log.error({ jobId, error: (e as Error).name }, "compute job failed unexpectedly");
    await appendFile(job.logPath, `\n[atrium] ${reason}\n`).catch(() => undefined);
    result = { state: "failed", reason, endedAt: new Date() };
  } finally {
    await xnat.close();
  }
  // The dispatcher records the result first; after a success only ready jobs can follow.
  try {
    await dispatchProject(prisma, job.run.projectId, { finished: { jobId, runId: job.runId, data: result }, mode: result.state === "succeeded" ? "ready" : "full" });
  } catch (e) {
    await recordJobResult(prisma, jobId, result);
    throw e;
  }
  return { state: String(result.state) };
}

async function execute(prisma: PrismaClient, job: PipelineJob & { scanInstances?: ScanInstances }, run: PipelineRun, reattach: boolean, deps: ComputeDeps, xnat: XnatSession): Promise<JobResult> {
  const store = deps.store ?? archiveBlobStore();
  const analyzed = await analyzeStoredById(prisma, run.pipelineRowId);
  const node = analyzed.nodes[job.node];
  if (!node) throw new JobFailure(`Node "${job.node}" is not in pipeline ${run.pipelineId} version ${run.pipelineVersion}.`);
  const tool = node.tool;
  const res = { ...tool.resources, ...analyzed.definition.nodes[job.node]!.resources };
  const sample = job.sample.replace(/\//g, "_");
  const ctx = { outdir: path.join(job.workDir, "out"), workdir: job.workDir, cores: res.cores, memoryMb: res.memoryMb, sample };
  const executor = (deps.executor ?? getExecutor)(job.executor);
  let values: InputValues;
  let spec: JobSpec;
  let submitted: SubmittedJob;
  let inputHashes: Record<string, string>;
  let cacheKey: string;
  if (reattach) {
    const prov = (job.provenance ?? {}) as { values?: InputValues; inputHashes?: Record<string, string> };
    values = prov.values ?? {};
    inputHashes = prov.inputHashes ?? {};
    cacheKey = job.cacheKey ?? "";
    spec = { jobId: job.id, command: job.command, workDir: job.workDir, logPath: job.logPath, cores: res.cores, memoryMb: res.memoryMb, wallTimeSeconds: res.wallTimeSeconds };
    submitted = { executor: executor.name, externalId: job.externalId!, host: job.host ?? "" };
    log.info({ jobId: job.id, externalId: job.externalId }, "re-attaching to a running job");
  } else {
    // A fresh work directory: nothing of an earlier attempt is taken for this one's.
    await freshWorkDir(job.workDir, ctx.outdir);
    const staged = await stageInputs(prisma, store, xnat, run, job, tool, job.scanInstances);
    values = staged.values;
    inputHashes = staged.inputHashes;
    const params = Object.fromEntries(Object.entries(values).filter(([id]) => !isFileType(tool.inputs.find((i) => i.id === id)?.type ?? "string")));
    cacheKey = reuseKey(tool.id, tool.version, params, inputHashes);
    const reused = await tryReuse(prisma, job, cacheKey, tool, values, inputHashes);
    if (reused) return finishSucceeded(prisma, store, xnat, analyzed, run, job, tool, reused.outputs, values, inputHashes, cacheKey, { reusedFromJobId: reused.from, startedAt: new Date(), endedAt: new Date(), exitCode: 0, host: hostname() });
    let command: string[];
    try {
      command = buildCommand(tool, values, ctx);
    } catch (e) {
      throw new JobFailure((e as Error).message);
    }
    if (executor.name === "local") {
      const missing = binariesMissing(tool);
      if (missing.length) throw new JobFailure(`Not installed on ${hostname()}: ${missing.join(", ")} (needed by tool ${tool.id}). Install it on the workers' host, or run on an executor that has it.`);
    }
    spec = { jobId: job.id, command, workDir: job.workDir, logPath: job.logPath, cores: res.cores, memoryMb: res.memoryMb, wallTimeSeconds: res.wallTimeSeconds };
    submitted = await executor.submit(spec);
    // Recorded before following it: a worker that dies from here on leaves the id to re-attach to.
    await statementsOf(prisma).submitted.add({ id: job.id, externalId: submitted.externalId, host: submitted.host, command, cacheKey, provenance: { values, inputHashes } });
  }
  // Follow the job; a cancel asked meanwhile (in the database, from any process) stops it.
  let cancelled = false;
  const unwatch = cancelWatch(prisma, deps.cancelPollMs ?? 1000).watch(job.id, () => {
    if (cancelled) return;
    cancelled = true;
    void executor.cancel(submitted).catch(() => undefined);
  });
  let outcome: JobOutcome;
  try {
    outcome = await executor.wait(submitted, spec);
  } finally {
    unwatch();
  }
  if (cancelled && outcome.state !== "succeeded") outcome = { ...outcome, state: "cancelled", reason: "Cancelled." };
  const base = { exitCode: outcome.exitCode, host: outcome.host || submitted.host, peakMemoryKb: outcome.peakMemoryKb, endedAt: outcome.endedAt, ...(outcome.startedAt ? { startedAt: outcome.startedAt } : {}) };
  if (outcome.state !== "succeeded") return { ...base, state: outcome.state, reason: outcome.reason, cacheKey };
  const fill = (s: string) => s.replace(/\{outdir\}/g, "out").replace(/\{sample\}/g, sample).replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, n: string) => String(values[n] ?? ""));
  let found: Record<string, FoundOutput>;
  try {
    found = await discoverOutputs(tool, job.workDir, await logTail(job.logPath), fill);
  } catch (e) {
    return { ...base, state: "failed", reason: (e as Error).message, cacheKey };
  }
  const outputs: StoredOutputs = {};
  for (const [id, o] of Object.entries(found)) outputs[id] = "files" in o ? { files: o.files.map((f) => path.relative(job.workDir, f)) } : o;
  return finishSucceeded(prisma, store, xnat, analyzed, run, job, tool, outputs, values, inputHashes, cacheKey, base);
}

async function stageInputs(prisma: PrismaClient, store: BlobStore, xnat: XnatSession, run: PipelineRun, job: PipelineJob, tool: ToolDefinition, claimed?: ScanInstances) {
  const values: InputValues = {};
  const inputHashes: Record<string, string> = {};
  const planned = job.inputs as unknown as Record<string, PlannedInput>;
  for (const [inputId, inp] of Object.entries(planned)) {
    if (inp.kind === "constant") {
      values[inputId] = inp.value;
      continue;
    }
    const type = tool.inputs.find((i) => i.id === inputId)?.type ?? "file";
    const staged: (string | Scalar)[] = [];
    if (inp.kind === "source") {
      for (const [n, item] of inp.items.entries()) staged.push(await stageFromArchive(prisma, store, xnat, run.projectId, item.ref as SourceRef, type, path.join(job.workDir, "in", inputId, inp.list ? String(n) : ""), claimed));
    } else {
      const ups = await prisma.pipelineJob.findMany({ where: { runId: run.id, key: { in: inp.jobs } }, select: { key: true, workDir: true, outputs: true, state: true } });
      for (const k of inp.jobs) {
        const up = ups.find((u) => u.key === k);
        if (!up || up.state !== "succeeded") throw new JobFailure(`Upstream job ${k} has not succeeded; re-run the failed jobs of the run.`);
        const out = (up.outputs as StoredOutputs | null)?.[inp.output];
        if (!out) continue;
        if ("value" in out) staged.push(...(Array.isArray(out.value) ? out.value : [out.value]));
        else
          for (const rel of out.files) {
            const src = path.join(up.workDir, rel);
            if (!existsSync(src)) throw new JobFailure(`Output ${inp.output} of upstream job ${k} is gone from its work directory; re-run the run.`);
            const dest = path.join(job.workDir, "in", inputId, inp.list ? `${staged.length}_${path.basename(rel)}` : path.basename(rel));
            await place(src, dest);
            staged.push(dest);
          }
      }
    }
    values[inputId] = inp.list ? staged : staged[0];
    for (const v of staged) if (typeof v === "string" && v.startsWith(job.workDir)) inputHashes[path.relative(job.workDir, v)] = await sha256Path(v);
  }
  return { values, inputHashes };
}

/** The outputs of an earlier job with the same content address whose files are all still there, linked into this job's directory. */
async function tryReuse(prisma: PrismaClient, job: PipelineJob, cacheKey: string, tool: ToolDefinition, _values: InputValues, _hashes: Record<string, string>): Promise<{ from: string; outputs: StoredOutputs } | null> {
  const earlier = await statementsOf(prisma).reuse.add({ id: job.id, cacheKey, toolId: tool.id, toolVersion: tool.version });
  for (const e of earlier) {
    const outs = (e.outputs ?? {}) as StoredOutputs;
    const files = Object.values(outs).flatMap((o) => ("files" in o ? o.files : []));
    if (!files.every((f) => existsSync(path.join(e.workDir, f)))) continue;
    for (const f of files) await place(path.join(e.workDir, f), path.join(job.workDir, f));
    await mkdir(path.dirname(job.logPath), { recursive: true });
    await writeFile(job.logPath, `[atrium] Reused the outputs of job ${e.id} (run ${e.runId}): same tool ${tool.id}@${tool.version}, parameters and input checksums. Nothing was run.\n`);
    return { from: e.id, outputs: outs };
  }
  return null;
}

async function finishSucceeded(
  prisma: PrismaClient,
  store: BlobStore,
  xnat: XnatSession,
  analyzed: AnalyzedPipeline,
  run: PipelineRun,
  job: PipelineJob,
  tool: ToolDefinition,
  outputs: StoredOutputs,
  values: InputValues,
  inputHashes: Record<string, string>,
  cacheKey: string,
  base: { exitCode: number | null; host: string; startedAt?: Date; endedAt: Date; peakMemoryKb?: number | null; reusedFromJobId?: string },
): Promise<JobResult> {
  const outputHashes: Record<string, string> = {};
  for (const [id, o] of Object.entries(outputs)) if ("files" in o) for (const f of o.files) outputHashes[`${id}:${f}`] = await sha256Path(path.join(job.workDir, f));
  const params = Object.fromEntries(Object.entries(values).filter(([id]) => !isFileType(tool.inputs.find((i) => i.id === id)?.type ?? "string")));
  const provenance = {
    run: run.id,
    job: job.id,
    pipeline: `${run.pipelineId}@${run.pipelineVersion}`,
    node: job.node,
    sample: job.sample,
    tool: { id: tool.id, version: tool.version },
    parameters: params,
    inputs: inputHashes,
    outputs: outputHashes,
    executor: job.executor,
    host: base.host,
    command: job.command,
    ...(base.reusedFromJobId ? { reusedFrom: base.reusedFromJobId } : {}),
    values,
    inputHashes,
  };
  try {
    await writeSinks(prisma, store, xnat, analyzed, run, job, outputs);
  } catch (e) {
    if (e instanceof JobFailure) throw e;
    throw new JobFailure(`The results could not be written to the archive: ${e instanceof XnatStageError ? e.message : (e as Error).message}`);
  }
  return { ...base, state: "succeeded", reason: null, outputs: outputs as Prisma.InputJsonValue, inputHashes, outputHashes, provenance: provenance as Prisma.InputJsonValue, cacheKey };
}

/**
 * Local archive: files go to the blob store first (new keys), then the index is switched in one
 * transaction; the replaced files are removed after. XNAT: the resources are written onto the
 * experiment or scan there first (a failed one is deleted again: lib/pipelines/xnat.ts), then the
 * index rows and values in one transaction; if that fails, the resources just written are deleted.
 */
async function writeSinks(prisma: PrismaClient, store: BlobStore, xnat: XnatSession, analyzed: AnalyzedPipeline, run: PipelineRun, job: PipelineJob, outputs: StoredOutputs) {
  const parts = job.sample === "run" ? [] : job.sample.split("/");
  const [subjectId, experimentId = null, scanId = null] = parts;
  const sinks = Object.entries(analyzed.definition.sinks).filter(([, s]) => s.from.split(".")[0] === job.node);
  if (!sinks.length) return;
  if (!subjectId) throw new Error(`node ${job.node} runs once per run; its results have no subject, experiment or scan to go on.`);
  const target = { projectId: run.projectId, subjectId, experimentId, scanId };
  type FileEntry = { name: string; size: number; sha256: string; blobKey?: string; xnat?: string };
  const resources: { name: string; files: FileEntry[] }[] = [];
  const vals: { name: string; value: Scalar | Scalar[] }[] = [];
  const onXnat = (await prisma.projectArchiveTarget.findUnique({ where: { projectId: run.projectId }, select: { kind: true } }))?.kind === "xnat";
  const xnatWrites: { name: string; files: { path: string; name: string; size: number; sha256: string }[] }[] = [];
  for (const [, sink] of sinks) {
    const out = outputs[sink.from.split(".")[1]!];
    if (!out) continue;
    if (sink.resource && "files" in out) {
      if (onXnat) {
        const files = [];
        for (const rel of out.files) {
          const p = path.join(job.workDir, rel);
          files.push({ path: p, name: safeName(path.basename(rel)), size: (await stat(p)).size, sha256: await sha256Path(p) });
        }
        xnatWrites.push({ name: sink.resource, files });
        continue;
      }
      const files: FileEntry[] = [];
      for (const rel of out.files) {
        const name = safeName(path.basename(rel));
        const key = `derived/${run.projectId}/${subjectId}/${experimentId ?? "_"}/${scanId ?? "_"}/${sink.resource}/${job.id}-${job.attempt}/${name}`;
        const put = await store.putFile(key, path.join(job.workDir, rel));
        files.push({ name, blobKey: key, size: put.size, sha256: put.sha256 });
      }
      resources.push({ name: sink.resource, files });
    } else if (sink.value && "value" in out) vals.push({ name: sink.value, value: out.value });
  }
  let undoXnat: (() => Promise<void>) | null = null;
  if (xnatWrites.length) {
    if (!experimentId) throw new JobFailure(`Node ${job.node} runs once per subject: XNAT resources go on an experiment or a scan, so sink${xnatWrites.length > 1 ? "s" : ""} ${xnatWrites.map((w) => w.name).join(", ")} cannot be written there (store values instead, or sink from a node that runs per experiment or scan).`);
    const { x, client } = await xnat.get();
    const sinkTarget = { project: x.project, experiment: await xnatExperimentOf(prisma, run.projectId, experimentId), scan: scanId };
    const uris = await writeXnatResources(client, sinkTarget, xnatWrites);
    for (const w of xnatWrites) resources.push({ name: w.name, files: w.files.map((f) => ({ name: f.name, size: f.size, sha256: f.sha256, xnat: uris[w.name]?.[f.name] ?? "" })) });
    undoXnat = async () => {
      for (const w of xnatWrites) await client.deleteResource({ project: sinkTarget.project, experiment: sinkTarget.experiment, ...(scanId ? { scan: scanId } : {}), resource: w.name }).catch(() => undefined);
    };
  }
  const replaced: string[] = [];
  try {
    await prisma.$transaction(async (tx) => {
      for (const r of resources) {
        const old = await tx.archiveResource.findMany({ where: { ...target, name: r.name } });
        for (const o of old) replaced.push(...(o.files as { blobKey?: string }[]).flatMap((f) => (f.blobKey ? [f.blobKey] : [])));
        await tx.archiveResource.deleteMany({ where: { ...target, name: r.name } });
        await tx.archiveResource.create({ data: { ...target, name: r.name, files: r.files, runId: run.id, jobId: job.id } });
      }
      for (const v of vals) {
        await tx.archiveValue.deleteMany({ where: { ...target, name: v.name } });
        await tx.archiveValue.create({ data: { ...target, name: v.name, value: v.value as Prisma.InputJsonValue, runId: run.id, jobId: job.id } });
      }
    });
  } catch (e) {
    // The index could not be switched: what went to XNAT for it is taken back.
    await undoXnat?.();
    throw e;
  }
  const kept = new Set(resources.flatMap((r) => r.files.flatMap((f) => (f.blobKey ? [f.blobKey] : []))));
  for (const k of replaced) if (!kept.has(k)) await store.delete(k).catch(() => undefined);
}
