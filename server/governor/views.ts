// What the portal and the CLI read about a project's workflow (issue #16): its versions, the board
// (counts per state and the experiments in each), an experiment's whole history; and adopting the
// experiments that are in no workflow yet.
import type { PrismaClient } from "@/server/db/generated/client";
import { rootState, type Workflow } from "@/lib/governor";
import { governExperiment, queueScheduler, workflowOf, type GovernorScheduler } from "./engine";

export async function workflowInfo(prisma: PrismaClient, projectId: string) {
  const versions = await prisma.governorWorkflow.findMany({
    where: { projectId },
    orderBy: { createdAt: "desc" },
    select: { id: true, label: true, version: true, sourceFormat: true, active: true, createdAt: true, createdById: true, _count: { select: { experiments: true } } },
  });
  const active = versions.find((v) => v.active) ?? null;
  const ids = [...new Set(versions.map((v) => v.createdById).filter((x): x is string => Boolean(x)))];
  const who = new Map((ids.length ? await prisma.user.findMany({ where: { id: { in: ids } }, select: { id: true, name: true, email: true } }) : []).map((u) => [u.id, u.name ?? u.email]));
  return {
    active: active ? { id: active.id, label: active.label, version: active.version, format: active.sourceFormat, definition: await workflowOf(prisma, active.id) } : null,
    versions: versions.map((v) => ({
      id: v.id,
      label: v.label,
      version: v.version,
      format: v.sourceFormat,
      active: v.active,
      createdAt: v.createdAt,
      createdBy: v.createdById ? (who.get(v.createdById) ?? null) : null,
      experiments: v._count.experiments,
    })),
  };
}

function diagram(wf: Workflow) {
  return {
    label: wf.label,
    root: rootState(wf).label,
    states: wf.states.map((s) => ({
      label: s.label,
      freetext: s.freetext,
      callbacks: s.callbacks.map((c) => ({ label: c.label, function: c.function, waitTimeout: c.wait_timeout, runTimeout: c.run_timeout })),
      transitions: s.transitions.map((t) => ({ destination: t.destination, condition: t.condition })),
    })),
  };
}

/**
 * The progress board: the active workflow's states (in file order; states of older versions that
 * still hold experiments after them) with their counts, and the first `perState` experiments of
 * each (longest in state first). One grouped count and one query per column, on (projectId, state).
 */
export async function board(prisma: PrismaClient, projectId: string, o: { state?: string; search?: string; perState: number }) {
  const info = await prisma.governorWorkflow.findFirst({ where: { projectId, active: true }, select: { id: true, label: true, version: true } });
  const wf = info ? await workflowOf(prisma, info.id) : null;
  const search = o.search?.trim() ? { experiment: { label: { contains: o.search.trim(), mode: "insensitive" as const } } } : {};
  const counts = await prisma.governorExperiment.groupBy({ by: ["state"], where: { projectId, ...search }, _count: { _all: true } });
  const countOf = new Map(counts.map((c) => [c.state ?? "(starting)", c._count._all]));
  const labels = [...(wf?.states.map((s) => s.label) ?? [])];
  for (const c of countOf.keys()) if (!labels.includes(c)) labels.push(c);
  const [errors, ungoverned] = await Promise.all([
    prisma.governorExperiment.count({ where: { projectId, lastError: { not: null } } }),
    prisma.archiveExperiment.count({ where: { projectId, governor: null } }),
  ]);
  const now = Date.now();
  const columns = await Promise.all(
    labels
      .filter((l) => !o.state || l === o.state)
      .map(async (label) => {
        const def = wf?.states.find((s) => s.label === label);
        const rows = (countOf.get(label) ?? 0) === 0
          ? []
          : await prisma.governorExperiment.findMany({
              where: { projectId, state: label === "(starting)" ? null : label, ...search },
              orderBy: { stateSince: "asc" },
              take: o.perState,
              select: {
                experimentId: true,
                stateSince: true,
                waitingFor: true,
                lastError: true,
                paused: true,
                experiment: { select: { label: true, subject: { select: { label: true } } } },
                workflow: { select: { version: true } },
              },
            });
        return {
          state: label,
          freetext: def?.freetext ?? "(a state of an earlier workflow version)",
          inActiveWorkflow: Boolean(def),
          final: def ? def.transitions.length === 0 : false,
          count: countOf.get(label) ?? 0,
          experiments: rows.map((r) => ({
            experimentId: r.experimentId,
            label: r.experiment.label,
            subject: r.experiment.subject.label,
            since: r.stateSince,
            secondsInState: Math.max(0, Math.round((now - r.stateSince.getTime()) / 1000)),
            waitingFor: r.waitingFor,
            error: r.lastError,
            paused: r.paused,
            workflowVersion: r.workflow.version,
          })),
        };
      }),
  );
  return {
    workflow: info && wf ? { id: info.id, label: info.label, version: info.version } : null,
    total: counts.reduce((s, c) => s + c._count._all, 0),
    errors,
    ungoverned,
    columns,
  };
}

/** One experiment: its current state, variables, the workflow's diagram and the whole history. */
export async function experimentDetail(prisma: PrismaClient, projectId: string, experimentId: string) {
  const e = await prisma.archiveExperiment.findFirst({
    where: { id: experimentId, projectId },
    select: { id: true, label: true, studyDate: true, modalities: true, subject: { select: { label: true } }, scans: { select: { modality: true, seriesDescription: true, instanceCount: true }, orderBy: { seriesNumber: "asc" } } },
  });
  if (!e) return null;
  const g = await prisma.governorExperiment.findUnique({
    where: { experimentId },
    include: {
      workflow: { select: { id: true, label: true, version: true, active: true } },
      variables: { orderBy: { label: "asc" } },
      actions: { orderBy: { revision: "asc" }, include: { executions: { orderBy: { created: "asc" } } } },
    },
  });
  const base = { id: e.id, label: e.label, subject: e.subject.label, studyDate: e.studyDate, scans: e.scans };
  if (!g) return { experiment: base, governed: null };
  const wf = await workflowOf(prisma, g.workflowId);
  const actorIds = [...new Set(g.actions.map((a) => a.actorId).filter((x): x is string => Boolean(x)))];
  const actors = new Map((actorIds.length ? await prisma.user.findMany({ where: { id: { in: actorIds } }, select: { id: true, name: true, email: true } }) : []).map((u) => [u.id, u.name ?? u.email]));
  return {
    experiment: base,
    governed: {
      id: g.id,
      state: g.state,
      since: g.stateSince,
      waitingFor: g.waitingFor,
      error: g.lastError,
      paused: g.paused,
      revision: g.revision,
      workflow: { ...g.workflow, diagram: diagram(wf) },
      variables: g.variables.map((v) => ({ label: v.label, value: v.value, updatedAt: v.updatedAt })),
      history: g.actions.map((a) => ({
        id: a.id,
        revision: a.revision,
        from: a.fromState,
        to: a.toState,
        cause: a.cause,
        actor: a.actorId ? (actors.get(a.actorId) ?? "a user") : a.cause.startsWith("api:token") ? a.cause.slice(4) : "system",
        freetext: a.freetext,
        trace: (a.trace as { destination: string; condition: string; test_result: boolean }[] | null) ?? null,
        success: a.success,
        start: a.startTime,
        end: a.endTime,
        current: a.revision === g.revision,
        executions: a.executions.map((x) => ({
          id: x.id,
          callback: x.callback,
          function: x.function,
          status: x.status,
          result: x.result,
          runLog: x.runLog.slice(-20_000),
          resultLog: x.resultLog.slice(-20_000),
          resultValues: x.resultValues,
          created: x.created,
          runStart: x.runStart,
          waitStart: x.waitStart,
          finished: x.finished,
          retryable: a.revision === g.revision && x.status === "finished" && (x.result === "failed" || x.result === "timeout"),
        })),
      })),
    },
  };
}

/** Starts the project's archived experiments that are in no workflow yet (at the active workflow's root). */
export async function adoptExperiments(prisma: PrismaClient, projectId: string, scheduler: GovernorScheduler = queueScheduler): Promise<number> {
  if (!(await prisma.governorWorkflow.findFirst({ where: { projectId, active: true }, select: { id: true } }))) return 0;
  let adopted = 0;
  for (;;) {
    const rows = await prisma.archiveExperiment.findMany({ where: { projectId, governor: null }, select: { id: true }, take: 500 });
    if (!rows.length) return adopted;
    for (const r of rows) if (await governExperiment(prisma, r.id, "adopted", scheduler)) adopted++;
    if (rows.length < 500) return adopted;
  }
}
