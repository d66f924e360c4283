// The governor on the database (issue #16): an archived experiment enters its project's workflow,
// callbacks run as `governor` jobs (initial delay, run and wait timeouts as delayed jobs), and when
// they are resolved the first transition whose condition holds is taken. Every transition is one
// GovernorAction (cause, time, actor, the conditions tested) written with its audit event; a
// transition is taken at most once: the experiment's `revision` is bumped by a conditional update
// and (experiment, revision) is unique, so concurrent or retried evaluations cannot take it twice.
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import {
  afterRun,
  canSetState,
  ConditionFailedError,
  conditionScope,
  evaluateCondition as checkCondition,
  decide,
  deadline,
  enterState,
  expire,
  hashSecret,
  initialState,
  isResolved,
  mappedVariables,
  newCallbackSecret,
  runCallback,
  startAt,
  stateOf,
  workflowSchema,
  type CallbackServices,
  type ExecStatus,
  type Execution,
  type ExperimentFacts,
  type TransitionTrace,
  type Workflow,
} from "@/lib/governor";
import { writeAudit } from "@/server/audit";
import { completenessOf } from "./expected";
import { experimentLabel } from "@/lib/archive/driver";
import { childLog } from "@/lib/log";
import { readEnv } from "@/lib/config";

const log = childLog("governor");

/** Keeps the stored logs bounded (the program's own output is capped at 1,000,000 characters). */
const LOG_CAP = 200_000;

/** Where jobs go: the BullMQ queue in production, a direct call in tests that run without workers. */
export interface GovernorScheduler {
  evaluate(govExperimentId: string, delayMs?: number, cause?: string): Promise<void>;
  run(executionId: string, delayMs?: number): Promise<void>;
}

export const queueScheduler: GovernorScheduler = {
  async evaluate(id, delayMs = 0, cause) {
    const { getQueue } = await import("@/server/queues");
    const due = delayMs > 0 ? Date.now() + delayMs : 0;
    await getQueue("governor").add(
      "evaluate",
      { kind: "evaluate", id, ...(cause ? { cause } : {}) },
      { delay: Math.max(0, delayMs), removeOnComplete: true, removeOnFail: 100, attempts: 3, backoff: { type: "exponential", delay: 2000 }, ...(due ? { jobId: `ev-${id}-${Math.ceil(due / 1000)}` } : {}) },
    );
  },
  async run(id, delayMs = 0) {
    const { getQueue } = await import("@/server/queues");
    // One job per execution (its id): a second add while it is queued or running is ignored; a
    // finished job under that id (a retry) is removed first.
    const old = await getQueue("governor").getJob(`run-${id}`);
    if (old && ((await old.isFailed()) || (await old.isCompleted()))) await old.remove().catch(() => undefined);
    await getQueue("governor").add("run", { kind: "run", id }, { delay: Math.max(0, delayMs), jobId: `run-${id}`, removeOnComplete: true, removeOnFail: 100, attempts: 1 });
  },
};

const wfCache = new Map<string, Workflow>();

/** A stored workflow version, validated with lib/governor's schema (versions never change: cached). */
export async function workflowOf(prisma: PrismaClient | Prisma.TransactionClient, workflowId: string): Promise<Workflow> {
  const hit = wfCache.get(workflowId);
  if (hit) return hit;
  const row = await prisma.governorWorkflow.findUniqueOrThrow({ where: { id: workflowId }, select: { definition: true } });
  const wf = workflowSchema.parse(row.definition);
  if (wfCache.size > 500) wfCache.clear();
  wfCache.set(workflowId, wf);
  return wf;
}

/** Absolute URLs handed to callbacks and returned by the v2 API (ids only, never labels). */
export function publicBase(): string {
  const env = readEnv();
  return (process.env.ATRIUM_PUBLIC_URL ?? env.NEXTAUTH_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, "");
}

type ExecRow = Prisma.GovernorCallbackExecutionGetPayload<object>;

export function toExecution(e: ExecRow): Execution {
  return {
    callback: e.callback,
    status: e.status as ExecStatus,
    result: e.result,
    resultValues: (e.resultValues as Record<string, unknown> | null) ?? null,
    created: e.created,
    runStart: e.runStart,
    waitStart: e.waitStart,
    finished: e.finished,
  };
}

/** What conditions may use about an experiment: label, variables, scans, archive state, pipeline values, completeness. */
export async function experimentFacts(prisma: PrismaClient, govExperimentId: string): Promise<ExperimentFacts> {
  const gx = await prisma.governorExperiment.findUniqueOrThrow({
    where: { id: govExperimentId },
    select: {
      state: true,
      variables: { select: { label: true, value: true } },
      experimentId: true,
      experiment: { select: { label: true, studyDate: true, intakeStudyId: true, projectId: true, subjectId: true, subject: { select: { label: true } }, scans: { select: { modality: true, seriesDescription: true, instanceCount: true } } } },
    },
  });
  const e = gx.experiment;
  // What the pipelines and the protocol say: independent reads, made together.
  const [values, completeness] = await Promise.all([
    pipelineValues(prisma, gx.experimentId),
    completenessOf(prisma, { id: gx.experimentId, projectId: e.projectId, subjectId: e.subjectId, subjectLabel: e.subject.label }),
  ]);
  // An experiment made by the archive without an intake study is archived; one that came through
  // intake is archived when its study's archive says so (it exists from reception on, before any).
  let archived = true;
  if (gx.experiment.intakeStudyId) {
    const [a, st] = await Promise.all([
      prisma.studyArchive.findUnique({ where: { studyId: gx.experiment.intakeStudyId }, select: { state: true } }),
      prisma.intakeStudy.findUnique({ where: { id: gx.experiment.intakeStudyId }, select: { status: true } }),
    ]);
    archived = a ? a.state === "archived" : !st || st.status === "archived";
  }
  return {
    label: gx.experiment.label,
    state: gx.state,
    variables: Object.fromEntries(gx.variables.map((v) => [v.label, v.value])),
    scandate: gx.experiment.studyDate,
    scans: gx.experiment.scans.map((s) => ({ modality: s.modality, description: s.seriesDescription, count: s.instanceCount })),
    archived,
    values,
    ...completeness,
  };
}

/** The named values pipelines stored on the experiment (the newest of each name). */
async function pipelineValues(prisma: PrismaClient, experimentId: string): Promise<Record<string, unknown>> {
  const rows = await prisma.archiveValue.findMany({ where: { experimentId, scanId: null }, orderBy: { updatedAt: "asc" }, select: { name: true, value: true } });
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}

// ---- Workflows -----------------------------------------------------------------------------------

export interface InstalledWorkflow {
  id: string;
  label: string;
  version: number;
  format: string;
  warnings: { line: number | null; message: string }[];
}

/**
 * Installs an imported workflow as the project's new version (the active one for experiments that
 * start from now on; running experiments keep theirs). Audited. Import errors are thrown by
 * importWorkflowYaml (WorkflowImportError, with lines) before anything is written.
 */
export async function installWorkflow(
  prisma: PrismaClient,
  projectId: string,
  imported: { workflow: Workflow; format: string; warnings: { line: number | null; message: string }[] },
  actorId: string | null,
): Promise<InstalledWorkflow> {
  const wf = imported.workflow;
  const row = await prisma.$transaction(async (tx) => {
    const last = await tx.governorWorkflow.findFirst({ where: { projectId, label: wf.label }, orderBy: { version: "desc" }, select: { version: true } });
    await tx.governorWorkflow.updateMany({ where: { projectId, active: true }, data: { active: false } });
    const created = await tx.governorWorkflow.create({
      data: { projectId, label: wf.label, version: (last?.version ?? 0) + 1, definition: wf as unknown as Prisma.InputJsonValue, sourceFormat: imported.format, active: true, createdById: actorId },
    });
    await writeAudit(tx, {
      projectId,
      actorId,
      action: "governor.workflow.import",
      targetType: "workflow",
      targetId: created.id,
      after: { label: wf.label, version: created.version, format: imported.format, states: wf.states.length, warnings: imported.warnings.length },
    });
    return created;
  });
  return { id: row.id, label: row.label, version: row.version, format: row.sourceFormat, warnings: imported.warnings };
}

// ---- Experiments entering the workflow -----------------------------------------------------------

/**
 * Puts an archived experiment under its project's active workflow (once) and queues its
 * evaluation. Returns the governed experiment's id, or null when the project has no workflow.
 */
export async function governExperiment(prisma: PrismaClient, experimentId: string, cause: string, scheduler: GovernorScheduler = queueScheduler): Promise<string | null> {
  const exp = await prisma.archiveExperiment.findUnique({ where: { id: experimentId }, select: { id: true, projectId: true, governor: { select: { id: true } } } });
  if (!exp) return null;
  let id = exp.governor?.id ?? null;
  if (!id) {
    const wf = await prisma.governorWorkflow.findFirst({ where: { projectId: exp.projectId, active: true }, select: { id: true } });
    if (!wf) return null;
    const created = await prisma.governorExperiment
      .upsert({ where: { experimentId }, create: { projectId: exp.projectId, experimentId, workflowId: wf.id }, update: {}, select: { id: true } })
      .catch(async () => prisma.governorExperiment.findUniqueOrThrow({ where: { experimentId }, select: { id: true } }));
    id = created.id;
  }
  await scheduler.evaluate(id, 0, cause);
  return id;
}

/**
 * An event about experiments that are already in a workflow (a pipeline run ended, a task was
 * done): each is evaluated, since its conditions may read what changed. Experiments in no
 * workflow are left alone.
 */
export async function onExperimentsEvent(prisma: PrismaClient, experimentIds: string[], cause: string, scheduler: GovernorScheduler = queueScheduler): Promise<number> {
  if (!experimentIds.length) return 0;
  const governed = await prisma.governorExperiment.findMany({ where: { experimentId: { in: experimentIds }, paused: false }, select: { id: true } });
  for (const g of governed) await scheduler.evaluate(g.id, 0, cause);
  return governed.length;
}

/**
 * Intake's event: a study's first instance was de-identified. In a project with a workflow, the
 * study's experiment is made now (the one the archive step fills: same project, Study Instance UID
 * and label) and enters the workflow, so it is followed from reception — also when the archive is
 * an XNAT. Once per study: later instances find the experiment and do nothing here.
 */
export async function onStudyReceived(prisma: PrismaClient, studyId: string, scheduler: GovernorScheduler = queueScheduler): Promise<string | null> {
  if (await prisma.archiveExperiment.findFirst({ where: { intakeStudyId: studyId }, select: { id: true } })) return null;
  const s = await prisma.intakeStudy.findUnique({ where: { id: studyId }, select: { projectId: true, studyInstanceUid: true, subjectLabel: true } });
  if (!s) return null;
  if (!(await prisma.governorWorkflow.findFirst({ where: { projectId: s.projectId, active: true }, select: { id: true } }))) return null;
  // Several de-identification workers may file the study's first instances at once: insert-or-ignore, then read.
  await prisma.archiveSubject.createMany({ data: [{ projectId: s.projectId, label: s.subjectLabel }], skipDuplicates: true });
  const subject = await prisma.archiveSubject.findUniqueOrThrow({ where: { projectId_label: { projectId: s.projectId, label: s.subjectLabel } }, select: { id: true } });
  await prisma.archiveExperiment.createMany({
    data: [{ projectId: s.projectId, subjectId: subject.id, label: experimentLabel(s.subjectLabel, s.studyInstanceUid), studyInstanceUid: s.studyInstanceUid, intakeStudyId: studyId, modalities: [] }],
    skipDuplicates: true,
  });
  const exp = await prisma.archiveExperiment.findUniqueOrThrow({ where: { projectId_studyInstanceUid: { projectId: s.projectId, studyInstanceUid: s.studyInstanceUid } }, select: { id: true, intakeStudyId: true } });
  if (!exp.intakeStudyId) await prisma.archiveExperiment.updateMany({ where: { id: exp.id, intakeStudyId: null }, data: { intakeStudyId: studyId } });
  return governExperiment(prisma, exp.id, "event:received", scheduler);
}

/** The archive's event: the study's experiment was archived (or archived again with more data). */
export async function onStudyArchived(prisma: PrismaClient, studyId: string, scheduler: GovernorScheduler = queueScheduler): Promise<void> {
  const exps = await prisma.archiveExperiment.findMany({ where: { intakeStudyId: studyId }, select: { id: true } });
  for (const e of exps) await governExperiment(prisma, e.id, "event:archived", scheduler);
}

// ---- Transitions ---------------------------------------------------------------------------------

interface TransitionOptions {
  cause: string;
  actorId?: string | null;
  freetext?: string;
  trace?: TransitionTrace[];
  scheduler?: GovernorScheduler;
  now?: Date;
}

type GovRow = { id: string; projectId: string; experimentId: string; workflowId: string; state: string | null; revision: number };

/**
 * Takes the experiment from its current state to `to` (one Action, callbacks created or skipped by
 * their own conditions, run jobs queued with their initial delay). Returns false when another
 * worker moved the experiment first (nothing is written then).
 */
export async function takeTransition(prisma: PrismaClient, gx: GovRow, wf: Workflow, to: string, o: TransitionOptions): Promise<boolean> {
  const now = o.now ?? new Date();
  const prev = await prisma.governorAction.findFirst({ where: { govExperimentId: gx.id, revision: gx.revision }, include: { executions: true } });
  const facts = await experimentFacts(prisma, gx.id);
  const entered = enterState(wf, to, facts, (prev?.executions ?? []).map(toExecution), now);
  const st = stateOf(wf, to);
  const rev = gx.revision + 1;
  const action = await prisma.$transaction(async (tx) => {
    const moved = await tx.governorExperiment.updateMany({
      where: { id: gx.id, revision: gx.revision },
      data: { state: to, revision: rev, stateSince: now, lastError: null, waitingFor: null, nextCheckAt: null },
    });
    if (!moved.count) return null;
    if (prev) {
      // Callbacks still open in the state being left are closed (a late PUT is then a 409).
      await tx.governorCallbackExecution.updateMany({
        where: { actionId: prev.id, status: { in: ["created", "queued", "running", "waiting"] } },
        data: { status: "skipped", finished: now, resultLog: `[atrium] the experiment left '${prev.toState}' for '${to}' (${o.cause}) before this callback was resolved` },
      });
    }
    if (prev) await tx.governorAction.update({ where: { id: prev.id }, data: { endTime: prev.endTime ?? now, success: true, ...(o.trace ? { trace: o.trace as unknown as Prisma.InputJsonValue } : {}) } });
    const created = await tx.governorAction.create({
      data: {
        govExperimentId: gx.id,
        revision: rev,
        fromState: gx.state,
        toState: to,
        cause: o.cause,
        actorId: o.actorId ?? null,
        freetext: o.freetext ?? "",
        startTime: now,
        ...(st.callbacks.length === 0 ? { success: true, endTime: now, trace: [] } : {}),
        executions: {
          create: entered.map((e) => ({
            callback: e.callback,
            function: st.callbacks.find((c) => c.label === e.callback)!.function,
            status: e.status,
            // The secret is made when the execution starts (only its hash is stored); this one is never handed out.
            secretHash: hashSecret(newCallbackSecret()),
            created: now,
            ...(e.status === "skipped" ? { finished: now, runLog: "skipped: the callback's condition is false" } : {}),
          })),
        },
      },
      include: { executions: true },
    });
    await writeAudit(tx, {
      projectId: gx.projectId,
      actorId: o.actorId ?? null,
      action: "governor.transition",
      targetType: "experiment",
      targetId: gx.experimentId,
      before: { state: gx.state },
      after: { state: to, cause: o.cause, revision: rev, ...(o.freetext ? { freetext: o.freetext } : {}) },
    });
    return created;
  });
  if (!action) return false;
  const scheduler = o.scheduler ?? queueScheduler;
  for (const e of action.executions) {
    if (e.status !== "created") continue;
    const cb = st.callbacks.find((c) => c.label === e.callback)!;
    await scheduler.run(e.id, cb.initial_delay * 1000);
  }
  return true;
}

/** Records a condition that could not be evaluated: the experiment stays, the error is shown. */
async function recordError(prisma: PrismaClient, gx: GovRow, message: string) {
  await prisma.governorExperiment.updateMany({ where: { id: gx.id, revision: gx.revision }, data: { lastError: message.slice(0, 2000), waitingFor: "an owner: a condition failed (see the error)", nextCheckAt: null } });
  log.warn({ govExperimentId: gx.id, state: gx.state }, "workflow condition failed");
}

export interface EvaluateOptions {
  cause?: string;
  scheduler?: GovernorScheduler;
  now?: () => Date;
}

export type EvaluateResult = { state: string | null; moved: number; waitingFor: string | null; error: string | null };

/**
 * One evaluation of an experiment: enter the root if it has no state, expire timed-out callbacks,
 * then take transitions while they hold (a state whose callbacks are all skipped, or that has none,
 * is passed through). Safe to run concurrently and repeatedly.
 */
export async function evaluateExperiment(prisma: PrismaClient, govExperimentId: string, o: EvaluateOptions = {}): Promise<EvaluateResult> {
  const scheduler = o.scheduler ?? queueScheduler;
  const clock = o.now ?? (() => new Date());
  let moved = 0;
  for (let hop = 0; hop < 100; hop++) {
    const gx = await prisma.governorExperiment.findUnique({
      where: { id: govExperimentId },
      select: { id: true, projectId: true, experimentId: true, workflowId: true, state: true, revision: true, paused: true, waitingFor: true, lastError: true },
    });
    if (!gx) return { state: null, moved, waitingFor: null, error: "no such experiment" };
    const done = (waitingFor: string | null, error: string | null = null) => ({ state: gx.state, moved, waitingFor, error });
    if (gx.paused) return done("the workflow is paused for this experiment");
    const wf = await workflowOf(prisma, gx.workflowId);
    const now = clock();
    if (gx.state === null) {
      if (await takeTransition(prisma, gx, wf, initialState(wf), { cause: o.cause ?? "start", scheduler, now })) moved++;
      continue;
    }
    const action = await prisma.governorAction.findFirst({ where: { govExperimentId: gx.id, revision: gx.revision }, include: { executions: true } });
    const execs = (action?.executions ?? []).map(toExecution);
    const st = stateOf(wf, gx.state);
    // Timeouts: running longer than run_timeout, waiting longer than wait_timeout.
    const before = execs.map((e) => e.status);
    for (const e of expire(st, execs, now)) {
      const row = action!.executions[execs.indexOf(e)]!;
      const what = before[execs.indexOf(e)] === "running" ? "run_timeout" : "wait_timeout";
      await prisma.governorCallbackExecution.updateMany({
        where: { id: row.id, status: before[execs.indexOf(e)] },
        data: {
          status: "finished",
          result: "timeout",
          finished: now,
          ...(what === "run_timeout" ? { runLog: `${row.runLog}\n[atrium] ${what} reached at ${now.toISOString()}` } : { resultLog: `${row.resultLog}\n[atrium] ${what} reached at ${now.toISOString()}` }),
        },
      });
    }
    let decision;
    try {
      decision = decide(wf, await experimentFacts(prisma, gx.id), execs, now);
    } catch (e) {
      if (e instanceof ConditionFailedError) {
        await recordError(prisma, gx, e.message);
        return done(null, e.message);
      }
      throw e;
    }
    if (decision.kind === "wait") {
      // The next timer: a start after its initial delay, or a timeout.
      let next: Date | null = null;
      action!.executions.forEach((row, i) => {
        const cb = st.callbacks.find((c) => c.label === row.callback);
        if (!cb) return;
        const e = execs[i]!;
        const t = e.status === "created" || e.status === "queued" ? startAt(cb, e) : deadline(cb, e);
        if (t && (!next || t < next)) next = t;
      });
      const nextAt = next as Date | null;
      await prisma.governorExperiment.updateMany({ where: { id: gx.id, revision: gx.revision }, data: { waitingFor: decision.reason, nextCheckAt: nextAt, lastError: null } });
      // Executions created but whose run job is gone (Redis lost) are queued again (job id = execution id).
      for (const [i, row] of action!.executions.entries()) {
        const e = execs[i]!;
        if (e.status !== "created") continue;
        const cb = st.callbacks.find((c) => c.label === row.callback);
        if (cb) await scheduler.run(row.id, Math.max(0, startAt(cb, e).getTime() - now.getTime()));
      }
      if (nextAt && nextAt.getTime() > now.getTime()) await scheduler.evaluate(gx.id, nextAt.getTime() - now.getTime() + 50, "timer");
      return done(decision.reason);
    }
    if (decision.kind === "stay") {
      if (action && !action.endTime) await prisma.governorAction.update({ where: { id: action.id }, data: { endTime: now, success: true, trace: decision.trace as unknown as Prisma.InputJsonValue } });
      const reason = st.transitions.length === 0 ? null : `no transition's condition holds (${decision.trace.map((t) => `→ ${t.destination}`).join(", ")}); waiting for an event or an owner`;
      await prisma.governorExperiment.updateMany({ where: { id: gx.id, revision: gx.revision }, data: { waitingFor: reason, nextCheckAt: null, lastError: null } });
      return done(reason);
    }
    if (await takeTransition(prisma, gx, wf, decision.to, { cause: o.cause && hop === 0 ? o.cause : "auto", trace: decision.trace, scheduler, now })) moved++;
  }
  const last = await prisma.governorExperiment.findUnique({ where: { id: govExperimentId }, select: { state: true } });
  const error = "the workflow moved 100 times in one evaluation (a loop of states without callbacks?); it stops here until the next event";
  await prisma.governorExperiment.update({ where: { id: govExperimentId }, data: { lastError: error } });
  return { state: last?.state ?? null, moved, waitingFor: null, error };
}

// ---- Callback executions -------------------------------------------------------------------------

async function setVariables(prisma: PrismaClient | Prisma.TransactionClient, govExperimentId: string, values: Record<string, unknown>) {
  for (const [label, value] of Object.entries(values)) {
    const v = (value ?? null) as Prisma.InputJsonValue;
    await prisma.governorVariable.upsert({
      where: { govExperimentId_label: { govExperimentId, label } },
      create: { govExperimentId, label, value: v === null ? ("null" as unknown as Prisma.InputJsonValue) : v },
      update: { value: v === null ? ("null" as unknown as Prisma.InputJsonValue) : v },
    });
  }
}

/** The callback definition of an execution, from its action's workflow version. */
async function definitionOf(prisma: PrismaClient, ex: { callback: string; action: { toState: string; experiment: { workflowId: string } } }) {
  const wf = await workflowOf(prisma, ex.action.experiment.workflowId);
  return stateOf(wf, ex.action.toState).callbacks.find((c) => c.label === ex.callback) ?? null;
}

export type RunResult = "stale" | "skipped" | ExecStatus;

/**
 * Runs one callback execution (the `run` job): claims it (created → running, with a fresh secret),
 * queues its run-timeout check, calls the function, and records what it returned — finished
 * (success or failed) or waiting for an external system. A PUT or a timeout that came first wins.
 */
export async function runExecution(prisma: PrismaClient, executionId: string, services: CallbackServices, scheduler: GovernorScheduler = queueScheduler): Promise<RunResult> {
  const ex = await prisma.governorCallbackExecution.findUnique({
    where: { id: executionId },
    include: { action: { select: { revision: true, toState: true, govExperimentId: true, experiment: { select: { id: true, revision: true, workflowId: true, paused: true, experiment: { select: { id: true, label: true, subjectId: true } }, project: { select: { id: true } } } } } } },
  });
  if (!ex || (ex.status !== "created" && ex.status !== "queued")) return "stale";
  const gx = ex.action.experiment;
  if (gx.revision !== ex.action.revision) {
    await prisma.governorCallbackExecution.updateMany({ where: { id: ex.id, status: ex.status }, data: { status: "skipped", finished: new Date(), runLog: "skipped: the experiment left the state before this callback ran" } });
    return "skipped";
  }
  const cb = await definitionOf(prisma, ex);
  if (!cb) return "stale";
  const secret = newCallbackSecret();
  const runStart = new Date();
  const claimed = await prisma.governorCallbackExecution.updateMany({ where: { id: ex.id, status: ex.status }, data: { status: "running", runStart, secretHash: hashSecret(secret) } });
  if (!claimed.count) return "stale";
  await scheduler.evaluate(gx.id, cb.run_timeout * 60_000 + 50, "timer");
  const base = publicBase();
  const outcome = await runCallback(
    cb.function,
    {
      executionId: ex.id,
      secret,
      experimentUrl: `${base}/api/v2/experiments/${gx.experiment.id}`,
      subjectUrl: `${base}/api/v2/subjects/${gx.experiment.subjectId}`,
      executionUrl: `${base}/api/v2/callback_executions/${ex.id}`,
      experimentLabel: gx.experiment.label,
      projectSlug: gx.project.id,
    },
    cb.callback_arguments,
    services,
  );
  const values = outcome.values as Prisma.InputJsonValue;
  if (outcome.success && outcome.running) {
    // Started elsewhere (a pipeline run): it stays running until that work resolves it, or its
    // run_timeout (queued above) expires it. If it was resolved meanwhile, nothing is changed.
    const n = await prisma.governorCallbackExecution.updateMany({ where: { id: ex.id, status: "running" }, data: { runLog: outcome.log.slice(-LOG_CAP), resultValues: values } });
    if (!n.count) return "stale";
    await prisma.governorExperiment.updateMany({ where: { id: gx.id, revision: ex.action.revision }, data: { waitingFor: `${cb.label}: ${outcome.log}`.slice(0, 500) } });
    return "running";
  }
  const next = afterRun(cb, outcome.success, new Date());
  const applied = await prisma.$transaction(async (tx) => {
    const n = await tx.governorCallbackExecution.updateMany({ where: { id: ex.id, status: "running" }, data: { ...next, runLog: outcome.log.slice(-LOG_CAP), resultValues: values } });
    if (n.count && next.result === "success") await setVariables(tx, gx.id, mappedVariables(cb, { result: "success", resultValues: outcome.values }));
    return n.count > 0;
  });
  if (!applied) return "stale";
  if (next.status === "waiting" && cb.wait_timeout > 0) await scheduler.evaluate(gx.id, cb.wait_timeout * 60_000 + 50, "timer");
  await scheduler.evaluate(gx.id, 0, `callback:${cb.label}`);
  return next.status;
}

export class ProtocolError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409,
    message: string,
    readonly errorclass = "StudyGovernorError",
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}

export interface ExecutionUpdate {
  status?: ExecStatus;
  result?: "none" | "success" | "failed" | "timeout";
  run_log?: string;
  result_log?: string;
  result_values?: Record<string, unknown> | null;
}

/**
 * An update of a callback execution through the callback protocol (the caller has already shown
 * the secret or project access). Resolving it (finished/skipped) sets the mapped variables and
 * evaluates the experiment at once, as Study Governor's update_state does.
 */
export async function updateExecution(prisma: PrismaClient, executionId: string, body: ExecutionUpdate, o: EvaluateOptions = {}): Promise<void> {
  const ex = await prisma.governorCallbackExecution.findUnique({ where: { id: executionId }, include: { action: { select: { toState: true, govExperimentId: true, experiment: { select: { workflowId: true } } } } } });
  if (!ex) throw new ProtocolError(404, `No callback execution ${executionId}.`, "CouldNotFindResourceError");
  if (isResolved(ex.status as ExecStatus)) throw new ProtocolError(409, `This callback execution is already resolved (${ex.status}); it cannot change.`, "StateChangeError");
  const now = new Date();
  const data: Prisma.GovernorCallbackExecutionUpdateManyMutationInput = {};
  if (body.status) {
    data.status = body.status;
    if (body.status === "running" && !ex.runStart) data.runStart = now;
    if (body.status === "waiting") data.waitStart = now;
    if (isResolved(body.status)) data.finished = now;
  }
  if (body.result) data.result = body.result;
  if (body.run_log !== undefined) data.runLog = body.run_log.slice(-LOG_CAP);
  if (body.result_log !== undefined) data.resultLog = body.result_log.slice(-LOG_CAP);
  if (body.result_values !== undefined) data.resultValues = (body.result_values ?? undefined) as Prisma.InputJsonValue | undefined;
  const resolved = body.status !== undefined && isResolved(body.status);
  const cb = await definitionOf(prisma, ex);
  const result = body.result ?? ex.result;
  const values = body.result_values !== undefined ? body.result_values : (ex.resultValues as Record<string, unknown> | null);
  const ok = await prisma.$transaction(async (tx) => {
    const n = await tx.governorCallbackExecution.updateMany({ where: { id: ex.id, status: ex.status }, data });
    if (n.count && resolved && cb) await setVariables(tx, ex.action.govExperimentId, mappedVariables(cb, { result, resultValues: values }));
    return n.count > 0;
  });
  if (!ok) throw new ProtocolError(409, "This callback execution changed meanwhile (resolved by a timeout or another caller); read it again.", "StateChangeError");
  if (resolved) await evaluateExperiment(prisma, ex.action.govExperimentId, { ...o, cause: o.cause ?? `callback:${ex.callback}` });
  else if (body.status === "waiting" && cb && cb.wait_timeout > 0) await (o.scheduler ?? queueScheduler).evaluate(ex.action.govExperimentId, cb.wait_timeout * 60_000 + 50, "timer");
}

/**
 * Sets an experiment's state by hand. Through the v2 API (force false) a direct transition from the
 * current state is required (Study Governor's set_state: 409 otherwise); an owner in the portal
 * may force any state, with a reason. Audited either way; the new state's callbacks run.
 */
export async function setExperimentState(
  prisma: PrismaClient,
  govExperimentId: string,
  to: string,
  o: { force: boolean; freetext?: string; actorId?: string | null; cause: string; scheduler?: GovernorScheduler },
): Promise<EvaluateResult> {
  const gx = await prisma.governorExperiment.findUniqueOrThrow({ where: { id: govExperimentId }, select: { id: true, projectId: true, experimentId: true, workflowId: true, state: true, revision: true } });
  const wf = await workflowOf(prisma, gx.workflowId);
  if (!wf.states.some((s) => s.label === to)) throw new ProtocolError(404, `The workflow '${wf.label}' has no state '${to}'. Its states: ${wf.states.map((s) => s.label).join(", ")}.`, "CouldNotFindResourceError");
  if (!o.force && !canSetState(wf, gx.state, to))
    throw new ProtocolError(409, `There is no transition from '${gx.state ?? "(no state)"}' to '${to}' in the workflow '${wf.label}'.`, "NoValidTransitionError");
  if (!o.force && gx.state !== null) {
    // As Study Governor's transition_experiment: the transition's own condition must hold.
    const t = stateOf(wf, gx.state).transitions.find((x) => x.destination === to)!;
    const prev = await prisma.governorAction.findFirst({ where: { govExperimentId: gx.id, revision: gx.revision }, include: { executions: true } });
    let holds: boolean;
    try {
      holds = checkCondition(t.condition, conditionScope(await experimentFacts(prisma, gx.id), (prev?.executions ?? []).map(toExecution), new Date()));
    } catch (e) {
      throw new ProtocolError(409, `The condition of the transition '${gx.state}' → '${to}' could not be evaluated: ${e instanceof Error ? e.message : String(e)}`, "ConditionFunctionCallFailedError");
    }
    if (!holds) throw new ProtocolError(409, `The condition of the transition '${gx.state}' → '${to}' does not hold: ${t.condition}`, "ConditionNotMetError");
  }
  const freetext = o.freetext ?? `Transition triggered by setting state to ${to}`;
  const ok = await takeTransition(prisma, gx, wf, to, { cause: o.cause, actorId: o.actorId ?? null, freetext, scheduler: o.scheduler });
  if (!ok) throw new ProtocolError(409, "The experiment changed state meanwhile; read it again and retry.", "StateChangeError");
  return evaluateExperiment(prisma, govExperimentId, { scheduler: o.scheduler, cause: "auto" });
}

/**
 * An owner's retry of a failed (or timed-out) callback of the experiment's current state: the
 * execution runs again (created, queued with its initial delay). Audited.
 */
export async function retryExecution(prisma: PrismaClient, executionId: string, actorId: string, scheduler: GovernorScheduler = queueScheduler): Promise<void> {
  const ex = await prisma.governorCallbackExecution.findUnique({ where: { id: executionId }, include: { action: { select: { revision: true, toState: true, govExperimentId: true, experiment: { select: { revision: true, projectId: true, experimentId: true, workflowId: true } } } } } });
  if (!ex) throw new ProtocolError(404, "No such callback execution.");
  if (ex.action.revision !== ex.action.experiment.revision)
    throw new ProtocolError(409, `The experiment has left the state '${ex.action.toState}'; force it back to that state to run its callbacks again.`);
  if (!(ex.status === "finished" && (ex.result === "failed" || ex.result === "timeout")))
    throw new ProtocolError(409, `Only a failed or timed-out callback can be retried (this one is ${ex.status}${ex.status === "finished" ? `, ${ex.result}` : ""}).`);
  const cb = await definitionOf(prisma, ex);
  await prisma.$transaction(async (tx) => {
    const n = await tx.governorCallbackExecution.updateMany({
      where: { id: ex.id, status: "finished" },
      data: { status: "created", result: "none", created: new Date(), runStart: null, waitStart: null, finished: null, runLog: `${ex.runLog}\n[atrium] retried by an owner at ${new Date().toISOString()}`.slice(-LOG_CAP) },
    });
    if (!n.count) throw new ProtocolError(409, "The callback changed meanwhile; reload.");
    await tx.governorAction.update({ where: { id: ex.actionId }, data: { endTime: null, success: false } });
    await writeAudit(tx, { projectId: ex.action.experiment.projectId, actorId, action: "governor.retry", targetType: "callbackExecution", targetId: ex.id, before: { status: ex.status, result: ex.result }, after: { status: "created", callback: ex.callback } });
  });
  await scheduler.run(ex.id, (cb?.initial_delay ?? 0) * 1000);
}

/** Re-derives governor jobs from the database: experiments with a due timer or never started. */
export async function requeueGovernor(prisma: PrismaClient, scheduler: GovernorScheduler = queueScheduler, now = new Date()): Promise<number> {
  const rows = await prisma.governorExperiment.findMany({
    where: { paused: false, OR: [{ state: null }, { nextCheckAt: { not: null } }] },
    select: { id: true, nextCheckAt: true },
    take: 5000,
  });
  for (const r of rows) await scheduler.evaluate(r.id, r.nextCheckAt ? Math.max(0, r.nextCheckAt.getTime() - now.getTime()) : 0, "requeue");
  return rows.length;
}
