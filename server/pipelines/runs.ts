// Pipeline runs: start (plan jobs from the archive's experiments), dispatch (queue the jobs whose
// upstream jobs succeeded, skip the ones whose upstream did not), finish, cancel, re-run failed.
//
// Dispatch is dependency-driven from the database rather than a BullMQ flow built up front: the
// PipelineJob rows are the truth (Redis holds only "run this job now", re-derivable at worker start),
// a job is queued only when its inputs exist, fan-in waits for every sample without a flow per
// group, a per-project limit on running jobs is a count at dispatch time, and "re-run the failed
// jobs" is resetting rows and dispatching again (a finished flow cannot be re-opened in part).
import { randomUUID } from "node:crypto";
import path from "node:path";
import type { Prisma, PrismaClient, PipelineJobState } from "@/server/db/generated/client";
import { sqlLiteral, sqlRows, sqlTransaction } from "@/server/db";
import { isConflict } from "@/lib/db/coalesce";
import { computeDir, readEnv } from "@/lib/config";
import { planRun, sampleKeyString } from "@/lib/pipelines/plan";
import { selectSources, type ExperimentRow } from "@/lib/pipelines/sources";
import { getExecutor, UnknownExecutorError } from "@/lib/pipelines/executors";
import { getQueue } from "@/server/queues";
import { childLog } from "@/lib/log";
import { analyzeStored, findPipeline, PipelineRegistryError } from "./registry";
import { allXnatExperiments, projectXnat, xnatExperimentRows } from "./xnat";
import { xnatReason } from "@/lib/pipelines/xnat";

const log = childLog("compute");

export class PipelineRunError extends Error {
  override readonly name = "PipelineRunError";
}

export const FAILED_JOB_STATES: PipelineJobState[] = ["failed", "timed_out", "out_of_memory", "cancelled", "skipped"];
export const ACTIVE_JOB_STATES: PipelineJobState[] = ["waiting", "queued", "running"];
export const COMPUTE_JOB_OPTIONS = { attempts: 1, removeOnComplete: true, removeOnFail: true };

export interface StartRunInput {
  projectId: string;
  /** The pipeline's id (e.g. dicom-stats) or its database row id. */
  pipeline: string;
  version?: string;
  experimentIds: string[];
  /** "user:<id>", "governor:<execution id>", "cli". */
  startedBy: string;
  startedById?: string | null;
  executor?: string;
  priority?: number;
  callbackUrl?: string | null;
}

export const bullJobId = (jobId: string, attempt: number) => `${jobId}-${attempt}`;

/** What a finished job records on its row (the executor's outcome, outputs and provenance). */
export interface JobResult {
  state: PipelineJobState;
  reason?: string | null;
  exitCode?: number | null;
  host?: string;
  peakMemoryKb?: number | null;
  startedAt?: Date;
  endedAt?: Date;
  cacheKey?: string;
  outputs?: unknown;
  inputHashes?: unknown;
  outputHashes?: unknown;
  provenance?: unknown;
  reusedFromJobId?: string;
}

const JOB_RESULT_COLUMNS: Record<keyof JobResult, (v: unknown) => [unknown, string]> = {
  state: (v) => [v, `::text::"PipelineJobState"`],
  reason: (v) => [v, "::text"],
  exitCode: (v) => [v, "::int"],
  host: (v) => [v, "::text"],
  peakMemoryKb: (v) => [v, "::int"],
  // Prisma keeps timestamps without time zone, in UTC.
  startedAt: (v) => [(v as Date).toISOString(), "::timestamptz AT TIME ZONE 'UTC'"],
  endedAt: (v) => [(v as Date).toISOString(), "::timestamptz AT TIME ZONE 'UTC'"],
  cacheKey: (v) => [v, "::text"],
  outputs: (v) => [JSON.stringify(v), "::jsonb"],
  inputHashes: (v) => [JSON.stringify(v), "::jsonb"],
  outputHashes: (v) => [JSON.stringify(v), "::jsonb"],
  provenance: (v) => [JSON.stringify(v), "::jsonb"],
  reusedFromJobId: (v) => [v, "::text"],
};

/**
 * Records a finished job's result in one prepared statement (one per set of fields), not through
 * Prisma: compiling an update with its JSON values cost ~2 ms of worker CPU per job.
 */
export async function recordJobResult(prisma: PrismaClient, jobId: string, result: JobResult): Promise<void> {
  const params: unknown[] = [jobId];
  const sets: string[] = [];
  // The statement's shape (which fields are set, which to null) names its prepared form; names stay under PostgreSQL's 63 bytes.
  let present = 0;
  let nulls = 0;
  (Object.keys(JOB_RESULT_COLUMNS) as (keyof JobResult)[]).forEach((k, bit) => {
    if (result[k] === undefined) return;
    present |= 1 << bit;
    if (result[k] === null) nulls |= 1 << bit;
    const [value, cast] = result[k] === null ? [null, ""] : JOB_RESULT_COLUMNS[k](result[k]);
    params.push(value);
    sets.push(`"${k}" = $${params.length}${cast}`);
  });
  await sqlRows(prisma, `UPDATE "PipelineJob" SET ${sets.join(", ")}, "updatedAt" = now() AT TIME ZONE 'UTC' WHERE id = $1`, params, `pipelines.jobResult.${present.toString(36)}.${nulls.toString(36)}`);
}

/** How each field of a JobResult is read back out of its JSON form (recordJobResults). */
const JOB_RESULT_FROM_JSON: Record<keyof JobResult, (v: string) => string> = {
  state: (v) => `(${v} ->> 'state')::"PipelineJobState"`,
  reason: (v) => `${v} ->> 'reason'`,
  exitCode: (v) => `(${v} ->> 'exitCode')::int`,
  host: (v) => `${v} ->> 'host'`,
  peakMemoryKb: (v) => `(${v} ->> 'peakMemoryKb')::int`,
  startedAt: (v) => `(${v} ->> 'startedAt')::timestamptz AT TIME ZONE 'UTC'`,
  endedAt: (v) => `(${v} ->> 'endedAt')::timestamptz AT TIME ZONE 'UTC'`,
  cacheKey: (v) => `${v} ->> 'cacheKey'`,
  outputs: (v) => `NULLIF(${v} -> 'outputs', 'null'::jsonb)`,
  inputHashes: (v) => `NULLIF(${v} -> 'inputHashes', 'null'::jsonb)`,
  outputHashes: (v) => `NULLIF(${v} -> 'outputHashes', 'null'::jsonb)`,
  provenance: (v) => `NULLIF(${v} -> 'provenance', 'null'::jsonb)`,
  reusedFromJobId: (v) => `${v} ->> 'reusedFromJobId'`,
};

// Several results in one statement: each row's JSON sets the fields it has (a field it has as null
// is set to null), the others keep their values.
const RECORD_RESULTS_SQL = `UPDATE "PipelineJob" j SET ${(Object.keys(JOB_RESULT_FROM_JSON) as (keyof JobResult)[])
  .map((k) => `"${k}" = CASE WHEN r.v ? '${k}' THEN ${JOB_RESULT_FROM_JSON[k]("r.v")} ELSE j."${k}" END`)
  .join(", ")}, "updatedAt" = now() AT TIME ZONE 'UTC'
  FROM jsonb_array_elements($1::jsonb) AS r(v) WHERE j.id = r.v ->> 'id'`;

/**
 * Records the results of jobs that finished close together: one statement for all of them (a
 * single one as recordJobResult does). Should the batch meet a conflict (a deadlock with a cancel
 * that updates the same rows), each is recorded on its own.
 */
export async function recordJobResults(prisma: PrismaClient, results: { jobId: string; data: JobResult }[]): Promise<void> {
  if (results.length === 1) return recordJobResult(prisma, results[0]!.jobId, results[0]!.data);
  if (!results.length) return;
  try {
    await sqlRows(prisma, RECORD_RESULTS_SQL, [JSON.stringify(results.map((r) => ({ ...r.data, id: r.jobId })))], "pipelines.jobResults");
  } catch (e) {
    if (!isConflict(e)) throw e;
    for (const r of results) await recordJobResult(prisma, r.jobId, r.data);
  }
}

export async function queueComputeJob(jobId: string, attempt: number, priority = 0): Promise<void> {
  await getQueue("compute").add("compute", { jobId, attempt }, { ...COMPUTE_JOB_OPTIONS, jobId: bullJobId(jobId, attempt), ...(priority ? { priority: Math.max(1, 1000 - priority) } : {}) });
}

const safeSample = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, "_");
/** A run's or job's row id, made here (not by Prisma) so the jobs can be inserted in one statement. */
const rowId = (prefix: "r" | "j") => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 24)}`;

const INSERT_JOBS_SQL = `INSERT INTO "PipelineJob" (id, "runId", key, node, sample, level, "toolId", "toolVersion", after, executor, "workDir", "logPath", inputs, command, "updatedAt")
  SELECT r.id, $1, r.key, r.node, r.sample, r.level, r."toolId", r."toolVersion", ARRAY(SELECT jsonb_array_elements_text(r.after)), $2, r."workDir", r."logPath", r.inputs, '{}', now() AT TIME ZONE 'UTC'
  FROM jsonb_to_recordset($3::jsonb) AS r(id text, key text, node text, sample text, level text, "toolId" text, "toolVersion" text, after jsonb, "workDir" text, "logPath" text, inputs jsonb)`;

/**
 * The experiments a run's sources choose from: the local archive's index, or, for a project whose
 * archive target is an XNAT, that XNAT's experiments (server/pipelines/xnat.ts). Returns the ids the
 * run records (for XNAT: Atrium's experiment id where it has a row, else the XNAT accession id).
 */
async function experimentsToRun(prisma: PrismaClient, projectId: string, experimentIds: string[]): Promise<{ rows: ExperimentRow[]; ids: string[] }> {
  const notIn = (missing: string[], where: string) =>
    new PipelineRunError(`Not in ${where}: experiment(s) ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}.`);
  let x;
  try {
    x = await projectXnat(prisma, projectId);
  } catch (e) {
    throw new PipelineRunError((e as Error).message);
  }
  if (x) {
    let xnat;
    try {
      xnat = await x.connect();
    } catch (e) {
      throw new PipelineRunError((e as Error).message);
    }
    try {
      const { rows, missing } = await xnatExperimentRows(prisma, projectId, x, xnat, experimentIds).catch((e: unknown) => {
        throw new PipelineRunError(xnatReason(e));
      });
      if (missing.length) throw notIn(missing, `XNAT project ${x.project} (project ${projectId}'s archive)`);
      return { rows, ids: [...new Set(rows.map((r) => r.id))] };
    } finally {
      await xnat.close().catch(() => undefined);
    }
  }
  const experiments = await prisma.archiveExperiment.findMany({
    where: { projectId, id: { in: experimentIds } },
    select: {
      id: true,
      subjectId: true,
      label: true,
      scans: { select: { id: true, seriesNumber: true, modality: true, seriesDescription: true, instanceCount: true } },
    },
  });
  const missing = experimentIds.filter((id) => !experiments.some((e) => e.id === id));
  if (missing.length) throw notIn(missing, `project ${projectId}'s archive`);
  const resources = await prisma.archiveResource.findMany({ where: { projectId, experimentId: { in: experimentIds } }, select: { id: true, name: true, scanId: true, experimentId: true } });
  return { rows: experiments.map((e) => ({ ...e, resources: resources.filter((r) => r.experimentId === e.id) })), ids: experimentIds };
}

export async function startPipelineRun(prisma: PrismaClient, input: StartRunInput) {
  let experimentIds = [...new Set(input.experimentIds)];
  if (!experimentIds.length) throw new PipelineRunError("Choose at least one experiment to run the pipeline on.");
  const executorName = input.executor ?? "local";
  try {
    const check = await getExecutor(executorName).check();
    if (!check.ok) throw new PipelineRunError(`The ${executorName} executor is not usable: ${check.reason}`);
  } catch (e) {
    if (e instanceof UnknownExecutorError) throw new PipelineRunError(e.message);
    throw e;
  }
  const row = await findPipeline(prisma, input.projectId, input.pipeline, input.version);
  const analyzed = await analyzeStored(prisma, row);
  const { rows, ids } = await experimentsToRun(prisma, input.projectId, experimentIds);
  experimentIds = ids;
  const { sources, notes } = selectSources(analyzed.definition, rows);
  const planned = planRun(analyzed, sources);
  const runId = rowId("r");
  const workDir = path.join(computeDir(), runId);
  const jobs = planned.map((j) => {
    const dir = path.join(workDir, j.node, safeSample(sampleKeyString(j.sample)));
    const tool = analyzed.nodes[j.node]!.tool;
    return {
      id: rowId("j"),
      key: j.key,
      node: j.node,
      sample: sampleKeyString(j.sample),
      level: j.level,
      toolId: tool.id,
      toolVersion: tool.version,
      after: j.after,
      workDir: dir,
      logPath: path.join(dir, "log.txt"),
      inputs: j.inputs,
    };
  });
  const run = await prisma.$transaction(async (tx) => {
    const created = await tx.pipelineRun.create({
      data: {
        id: runId,
        projectId: input.projectId,
        pipelineRowId: row.id,
        pipelineId: row.pipelineId,
        pipelineVersion: row.version,
        experimentIds,
        startedBy: input.startedBy,
        startedById: input.startedById ?? null,
        executor: executorName,
        priority: input.priority ?? 0,
        notes,
        callbackUrl: input.callbackUrl ?? null,
        workDir,
        state: planned.length ? "queued" : "failed",
        ...(planned.length ? {} : { error: `Nothing to run: ${notes[0] ?? "the sources found nothing in these experiments."}`, endedAt: new Date() }),
      },
    });
    // The jobs in one statement from one JSON parameter: Prisma's nested create of 1,000 jobs cost ~0.8 s of CPU.
    if (jobs.length) await tx.$executeRawUnsafe(INSERT_JOBS_SQL, runId, executorName, JSON.stringify(jobs));
    return created;
  });
  log.info({ runId: run.id, projectId: run.projectId, pipeline: `${row.pipelineId}@${row.version}`, jobs: planned.length }, "pipeline run started");
  if (planned.length) await dispatchProject(prisma, input.projectId);
  return run;
}

export interface DispatchOptions {
  /**
   * A job's result to record first (the dispatch then sees it); its run may have ended. The results
   * of jobs that finish while a dispatch of the project runs are recorded together, in one statement.
   */
  finished?: { jobId: string; runId: string; data: JobResult };
  /**
   * "ready" (after a job succeeded): only queue jobs whose upstream jobs all succeeded — nothing can
   * have become skippable. "full" (default): also skip jobs whose upstream did not succeed, and
   * cancel the waiting jobs of cancelled runs.
   */
  mode?: "ready" | "full";
}

/**
 * Queues every ready job of the project's active runs (highest priority, oldest run first) up to
 * the project's limit of running jobs, and skips jobs whose upstream failed. Under the project's
 * advisory lock. After successes only ("ready") that is one statement: the project's queued/running
 * count, the ready jobs in run order (as many as the limit leaves room for) switched to queued and
 * returned; the BullMQ jobs are added in one bulk call after the commit.
 *
 * In one process, dispatches of a project do not wait for the lock side by side (each would hold a
 * database connection while it waits, starving the other jobs' queries): a request made while one
 * runs joins the next one, which covers every request made meanwhile (and records their jobs'
 * results in one statement before it). The promise resolves when a dispatch that started after the
 * request has ended.
 */
export async function dispatchProject(prisma: PrismaClient, projectId: string, opts: DispatchOptions = {}): Promise<void> {
  let byProject = dispatchers.get(prisma);
  if (!byProject) dispatchers.set(prisma, (byProject = new Map()));
  let d = byProject.get(projectId);
  if (!d) byProject.set(projectId, (d = { current: null, next: null }));
  const slot = d;
  if (!slot.next) {
    const next: NextDispatch = { full: false, runs: new Set(), results: [], promise: null as unknown as Promise<void> };
    next.promise = (slot.current ?? Promise.resolve()).catch(() => undefined).then(async () => {
      slot.next = null;
      slot.current = next.promise;
      try {
        // The results of the jobs that finished meanwhile, in one statement; the dispatch then sees them.
        await recordJobResults(prisma, next.results);
        await dispatchOnce(prisma, projectId, { full: next.full, finishedRuns: [...next.runs] });
      } finally {
        if (slot.current === next.promise) slot.current = null;
      }
    });
    slot.next = next;
  }
  if (opts.mode !== "ready") slot.next.full = true;
  if (opts.finished) {
    slot.next.runs.add(opts.finished.runId);
    slot.next.results.push({ jobId: opts.finished.jobId, data: opts.finished.data });
  }
  return slot.next.promise;
}

type NextDispatch = { full: boolean; runs: Set<string>; results: { jobId: string; data: JobResult }[]; promise: Promise<void> };
const dispatchers = new WeakMap<PrismaClient, Map<string, { current: Promise<void> | null; next: NextDispatch | null }>>();

async function dispatchOnce(prisma: PrismaClient, projectId: string, opts: { full: boolean; finishedRuns: string[] }): Promise<void> {
  const limit = readEnv().ATRIUM_COMPUTE_PROJECT_LIMIT;
  const toQueue: { id: string; attempt: number; priority: number; runId: string }[] = [];
  const maybeDone: string[] = [];
  // One dispatcher per project at a time (the project's advisory lock), so the limit holds across workers.
  const lockKey = `compute:${projectId}`;
  if (!opts.full) {
    // After successes: SQL only, on one pool connection (no Prisma transaction on this per-job path).
    // The lock is taken with the BEGIN (one round trip); the ready statement's snapshot is taken after it.
    const rows = await sqlTransaction(
      prisma,
      async (q) => q<{ id: string; attempt: number; priority: number; runId: string }>(
        `WITH active AS (
          SELECT id, priority, "createdAt", "cancelRequested" FROM "PipelineRun" WHERE "projectId" = $1 AND state IN ('queued', 'running')),
        busy AS (
          SELECT count(*)::int AS n FROM "PipelineJob" j JOIN active a ON a.id = j."runId" WHERE j.state IN ('queued', 'running')),
        ready AS (
          SELECT j.id FROM "PipelineJob" j JOIN active a ON a.id = j."runId"
          WHERE NOT a."cancelRequested" AND j.state = 'waiting'
            AND (cardinality(j.after) = 0 OR NOT EXISTS (
              SELECT 1 FROM unnest(j.after) AS k(key) JOIN "PipelineJob" u ON u."runId" = j."runId" AND u.key = k.key WHERE u.state <> 'succeeded'))
          ORDER BY a.priority DESC, a."createdAt" ASC, j.id
          LIMIT GREATEST(0, $2::int - (SELECT n FROM busy)))
        UPDATE "PipelineJob" p SET state = 'queued', "queuedAt" = now() AT TIME ZONE 'UTC', "updatedAt" = now() AT TIME ZONE 'UTC'
        FROM ready, active a WHERE p.id = ready.id AND a.id = p."runId"
        RETURNING p.id, p.attempt, a.priority, p."runId"`,
        [projectId, limit],
        "pipelines.dispatchReady",
      ),
      `SELECT pg_advisory_xact_lock(hashtext(${sqlLiteral(lockKey)}))`,
    );
    toQueue.push(...rows);
    // Only the finished jobs' runs can have ended; nothing of one queued now means it may have.
    for (const runId of opts.finishedRuns) if (!rows.some((r) => r.runId === runId)) maybeDone.push(runId);
  } else {
    await prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${lockKey}))`;
      const runs = await tx.pipelineRun.findMany({ where: { projectId, state: { in: ["queued", "running"] } }, orderBy: [{ priority: "desc" }, { createdAt: "asc" }], select: { id: true, priority: true, cancelRequested: true } });
      if (!runs.length) return;
      const active = await tx.pipelineJob.groupBy({ by: ["runId"], where: { run: { projectId }, state: { in: ["queued", "running"] } }, _count: true });
      const activeOf = new Map(active.map((a) => [a.runId, a._count]));
      let busy = active.reduce((n, a) => n + a._count, 0);
      for (const run of runs) {
        const before = toQueue.length;
        busy = await dispatchRunFull(tx, run, busy, limit, toQueue);
        // Nothing in flight for this run and nothing queued now: it may have ended.
        if (!(activeOf.get(run.id) ?? 0) && toQueue.length === before) maybeDone.push(run.id);
      }
    });
  }
  if (toQueue.length) {
    await getQueue("compute")
      .addBulk(toQueue.map((j) => ({ name: "compute", data: { jobId: j.id, attempt: j.attempt }, opts: { ...COMPUTE_JOB_OPTIONS, jobId: bullJobId(j.id, j.attempt), ...(j.priority ? { priority: Math.max(1, 1000 - j.priority) } : {}) } })))
      .catch((e: Error) => log.warn({ jobs: toQueue.length, error: e.name }, "could not queue the jobs; the worker's start re-queues them"));
  }
  // Runs with nothing waiting, queued or running any more end now.
  for (const id of maybeDone) await finishRunIfDone(prisma, id);
}

/** The full pass over one run's waiting jobs: skip (or cancel) those whose upstream did not succeed, queue the ready ones. */
async function dispatchRunFull(
  tx: Prisma.TransactionClient,
  run: { id: string; priority: number; cancelRequested: boolean },
  busy: number,
  limit: number,
  toQueue: { id: string; attempt: number; priority: number; runId: string }[],
): Promise<number> {
  // The waiting jobs, and the states of the jobs they wait for (not the whole run).
  const jobs = await tx.pipelineJob.findMany({ where: { runId: run.id, state: "waiting" }, select: { id: true, key: true, state: true, after: true, attempt: true }, orderBy: { id: "asc" } });
  if (!jobs.length) return busy;
  const upKeys = [...new Set(jobs.flatMap((j) => j.after))];
  const ups = upKeys.length ? await tx.pipelineJob.findMany({ where: { runId: run.id, key: { in: upKeys } }, select: { id: true, key: true, state: true, after: true, attempt: true } }) : [];
  const byKey = new Map([...ups, ...jobs].map((j) => [j.key, j]));
  const skipped: { id: string; state: "cancelled" | "skipped"; reason: string }[] = [];
  const queued: string[] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (const j of jobs) {
      if (j.state !== "waiting") continue;
      const upsOf = j.after.map((k) => byKey.get(k)!);
      const bad = upsOf.find((u) => FAILED_JOB_STATES.includes(u.state));
      if (bad || run.cancelRequested) {
        const reason = run.cancelRequested ? "Cancelled before it ran." : `Not run: upstream job ${bad!.key} ${bad!.state.replace(/_/g, " ")}.`;
        j.state = run.cancelRequested ? "cancelled" : "skipped";
        skipped.push({ id: j.id, state: j.state as "cancelled" | "skipped", reason });
        changed = true;
      } else if (upsOf.every((u) => u.state === "succeeded") && busy < limit) {
        j.state = "queued";
        busy++;
        queued.push(j.id);
        toQueue.push({ id: j.id, attempt: j.attempt, priority: run.priority, runId: run.id });
      }
    }
  }
  const now = new Date();
  // Skipped jobs grouped by their reason: one update per distinct reason.
  const byReason = new Map<string, { state: "cancelled" | "skipped"; ids: string[] }>();
  for (const s of skipped) {
    const k = `${s.state}\0${s.reason}`;
    const g = byReason.get(k) ?? { state: s.state, ids: [] };
    g.ids.push(s.id);
    byReason.set(k, g);
  }
  for (const [k, g] of byReason) await tx.pipelineJob.updateMany({ where: { id: { in: g.ids } }, data: { state: g.state, reason: k.slice(k.indexOf("\0") + 1), endedAt: now } });
  if (queued.length) await tx.pipelineJob.updateMany({ where: { id: { in: queued } }, data: { state: "queued", queuedAt: now } });
  return busy;
}

/** Ends the run when none of its jobs is waiting, queued or running. */
export async function finishRunIfDone(prisma: PrismaClient, runId: string): Promise<boolean> {
  // One statement (it runs after each of a run's last jobs): its jobs counted by kind, and its cancel flag.
  const [c] = await sqlRows<{ active: number; failed: number; total: number; cancelRequested: boolean }>(
    prisma,
    `SELECT count(j.id) FILTER (WHERE j.state::text = ANY($2::text[]))::int AS active,
            count(j.id) FILTER (WHERE j.state::text = ANY($3::text[]))::int AS failed,
            count(j.id)::int AS total, r."cancelRequested"
     FROM "PipelineRun" r LEFT JOIN "PipelineJob" j ON j."runId" = r.id WHERE r.id = $1 GROUP BY r.id`,
    [runId, ACTIVE_JOB_STATES, FAILED_JOB_STATES],
    "pipelines.runCounts",
  );
  if (!c) throw new PipelineRunError(`No pipeline run ${runId}.`);
  if (c.active > 0) return false;
  const run = { cancelRequested: c.cancelRequested };
  const { failed, total } = c;
  let error: string | null = null;
  if (failed) {
    const first = await prisma.pipelineJob.findFirst({ where: { runId, state: { in: ["failed", "timed_out", "out_of_memory"] } }, orderBy: { endedAt: "asc" }, select: { key: true, reason: true } });
    error = `${failed} of ${total} jobs did not succeed${first ? `; first: ${first.key}: ${first.reason ?? "failed"}` : ""}`.slice(0, 1000);
  }
  const state = run.cancelRequested ? "cancelled" : failed ? "failed" : "succeeded";
  const r = await prisma.pipelineRun.updateMany({ where: { id: runId, state: { in: ["queued", "running"] } }, data: { state, error, endedAt: new Date() } });
  if (r.count) {
    log.info({ runId, state, jobs: total, failed }, "pipeline run ended");
    await tellGovernor(prisma, runId, state, error);
  }
  return r.count > 0;
}

/** Stops a run: jobs not started are cancelled now; running ones are killed by the worker following them. */
export async function cancelRun(prisma: PrismaClient, projectId: string, runId: string) {
  const run = await prisma.pipelineRun.findFirst({ where: { id: runId, projectId } });
  if (!run) throw new PipelineRunError(`No run ${runId} in project ${projectId}.`);
  if (run.state !== "queued" && run.state !== "running") return run;
  await prisma.$transaction([
    prisma.pipelineRun.update({ where: { id: runId }, data: { cancelRequested: true } }),
    prisma.pipelineJob.updateMany({ where: { runId, state: { in: ["waiting", "queued"] } }, data: { state: "cancelled", reason: "Cancelled before it ran.", endedAt: new Date() } }),
    prisma.pipelineJob.updateMany({ where: { runId, state: "running" }, data: { cancelRequested: true } }),
  ]);
  await finishRunIfDone(prisma, runId);
  return prisma.pipelineRun.findUniqueOrThrow({ where: { id: runId } });
}

/** Runs the jobs that did not succeed again (and the ones they skipped); the succeeded ones keep their results. */
export async function rerunFailed(prisma: PrismaClient, projectId: string, runId: string) {
  const run = await prisma.pipelineRun.findFirst({ where: { id: runId, projectId } });
  if (!run) throw new PipelineRunError(`No run ${runId} in project ${projectId}.`);
  if (run.state === "queued" || run.state === "running") throw new PipelineRunError("The run is still going: wait for it to end (or cancel it) before re-running its failed jobs.");
  const jobs = await prisma.pipelineJob.findMany({ where: { runId, state: { in: FAILED_JOB_STATES } }, select: { id: true } });
  if (!jobs.length) throw new PipelineRunError("Every job of this run succeeded; there is nothing to re-run.");
  await prisma.$transaction([
    prisma.pipelineJob.updateMany({
      where: { runId, state: { in: FAILED_JOB_STATES } },
      data: { state: "waiting", attempt: { increment: 1 }, cancelRequested: false, externalId: null, host: null, exitCode: null, reason: null, queuedAt: null, startedAt: null, endedAt: null, peakMemoryKb: null, reusedFromJobId: null },
    }),
    prisma.pipelineRun.update({ where: { id: runId }, data: { state: "running", cancelRequested: false, error: null, endedAt: null } }),
  ]);
  await dispatchProject(prisma, projectId);
  return { rerun: jobs.length };
}

/** At worker start (and when Redis comes back): queued and running jobs go back to the queue (a running one is re-attached, not started again), and active runs are dispatched. */
export async function requeueComputeJobs(prisma: PrismaClient): Promise<number> {
  const jobs = await prisma.pipelineJob.findMany({ where: { state: { in: ["queued", "running"] } }, select: { id: true, attempt: true, run: { select: { priority: true } } }, take: 5000 });
  for (const j of jobs) await queueComputeJob(j.id, j.attempt, j.run.priority);
  const projects = await prisma.pipelineRun.findMany({ where: { state: { in: ["queued", "running"] } }, select: { projectId: true }, distinct: ["projectId"] });
  for (const p of projects) await dispatchProject(prisma, p.projectId);
  return jobs.length;
}

export { PipelineRegistryError };

/** A start request of the API (experiment ids or the whole project). */
export async function startRunFromRequest(
  prisma: PrismaClient,
  req: { projectId: string; pipeline: string; version?: string; experimentIds: string[]; all: boolean; executor: string; priority: number },
  startedBy: string,
  startedById: string | null,
) {
  // Experiments by id or by label (the CLI's users know labels).
  let experimentIds = req.experimentIds;
  const x = await projectXnat(prisma, req.projectId).catch((e: Error) => {
    throw new PipelineRunError(e.message);
  });
  if (x) {
    // On an XNAT-archived project, ids and labels are resolved against that XNAT when the run starts.
    if (req.all) {
      const xnat = await x.connect().catch((e: Error) => {
        throw new PipelineRunError(e.message);
      });
      try {
        experimentIds = await allXnatExperiments(x, xnat);
      } finally {
        await xnat.close().catch(() => undefined);
      }
    }
  } else if (req.all) experimentIds = (await prisma.archiveExperiment.findMany({ where: { projectId: req.projectId }, select: { id: true }, orderBy: { createdAt: "asc" } })).map((e) => e.id);
  else {
    const found = await prisma.archiveExperiment.findMany({ where: { projectId: req.projectId, OR: [{ id: { in: experimentIds } }, { label: { in: experimentIds } }] }, select: { id: true, label: true } });
    experimentIds = experimentIds.map((x) => found.find((e) => e.id === x)?.id ?? found.find((e) => e.label === x)?.id ?? x);
  }
  if (!experimentIds.length) throw new PipelineRunError(`Project ${req.projectId} has no archived experiments yet${x ? ` (on XNAT project ${x.project})` : ""}: archive some data first.`);
  return startPipelineRun(prisma, { projectId: req.projectId, pipeline: req.pipeline, ...(req.version ? { version: req.version } : {}), experimentIds, startedBy, startedById, executor: req.executor, priority: req.priority });
}

/**
 * A run a Study Governor callback started ("governor:<execution id>") resolves that callback when it
 * ends, as fastr's launcher did by returning: success when every job succeeded, else failed.
 */
async function tellGovernor(prisma: PrismaClient, runId: string, state: string, error: string | null): Promise<void> {
  const run = await prisma.pipelineRun.findUnique({ where: { id: runId }, select: { startedBy: true, experimentIds: true } });
  const executionId = run?.startedBy.startsWith("governor:") ? run.startedBy.slice("governor:".length) : null;
  if (!executionId) {
    // A run someone else started: its experiments' workflows look again (conditions may read its values).
    if (run) {
      const { onExperimentsEvent } = await import("@/server/governor/engine");
      await onExperimentsEvent(prisma, run.experimentIds, "event:run").catch((e: Error) => log.warn({ runId, error: e.name }, "could not queue the workflow evaluations"));
    }
    return;
  }
  const { updateExecution, ProtocolError } = await import("@/server/governor/engine");
  try {
    await updateExecution(prisma, executionId, {
      status: "finished",
      result: state === "succeeded" ? "success" : "failed",
      result_log: error ?? `pipeline run ${runId} ${state}`,
      result_values: { run_id: runId, run_state: state, error },
    });
  } catch (e) {
    // Already resolved (a timeout came first, or an owner moved the experiment on): nothing to tell.
    if (e instanceof ProtocolError) log.info({ runId, executionId, status: e.status }, "the governor callback was already resolved");
    else log.warn({ runId, executionId, error: (e as Error).name }, "could not tell the governor that the run ended");
  }
}
