// Study Governor's REST API v2 (issue #16), a thin translation over Atrium's governor: the
// experiments, their states and actions, the workflow's states and transitions, and the callback
// protocol (GET/PUT /api/v2/callback_executions/{id} with the execution's secret). Shapes follow
// the reference (`*Summary` objects {id, label?, uri}; details carry api_uri and web_uri).
//
// Ids: an experiment is Atrium's archived experiment id; a state is "<workflowId>.<index>" and a
// transition "<workflowId>.<stateIndex>.<transitionIndex>" (workflow versions never change).
// Auth: a project API token (`Authorization: Bearer atr_…`; "workflow" scope to change states and
// resolve callbacks, "read" or "workflow" to read) or a portal session; a callback execution also
// accepts its own secret (`secret_key` or `secret` in the JSON body, or the X-Callback-Secret header).
import type { PrismaClient } from "@/server/db/generated/client";
import { db } from "@/server/db";
import { jsonError, jsonNoStore, requireProjectAccessOrToken, tokenError } from "@/server/http/access";
import { authenticateToken } from "@/server/http/token";
import { callbackExecutionUpdateSchema, checkUpdate, experimentStateUpdateSchema, isResolved, secretMatches, stateOf, type ExecStatus, type Workflow } from "@/lib/governor";
import { ProtocolError, publicBase, setExperimentState, updateExecution, workflowOf } from "@/server/governor/engine";
import { z } from "zod";

const json = jsonNoStore;

function hasCredentials(headers: Headers): boolean {
  return Boolean(headers.get("authorization") || /session-token=/.test(headers.get("cookie") ?? ""));
}

const NO_CREDENTIALS =
  "Send a project API token ('Authorization: Bearer atr_…' with the \"workflow\" or \"read\" scope, created by a project owner in the Intake tab) or sign in.";

type Access = { ok: true; prisma: PrismaClient; actorId: string | null; via: string } | { ok: false; response: Response };

/** Project access for the v2 routes: reads need collaborator ("read" or "workflow" token), writes member ("workflow" token). */
async function access(headers: Headers, projectId: string, write: boolean): Promise<Access> {
  if (!hasCredentials(headers)) return { ok: false, response: tokenError(401, NO_CREDENTIALS) };
  let scope: "read" | "workflow" = "workflow";
  if (!write) {
    const t = await authenticateToken(await db(), headers);
    if (t.kind === "ok" && !t.token.scopes.includes("workflow")) scope = "read";
  }
  const a = await requireProjectAccessOrToken(headers, projectId, write ? "member" : "collaborator", scope);
  if (!a.ok) return a;
  return { ok: true, prisma: a.prisma, actorId: a.user?.id ?? null, via: a.token ? `api:token ${a.token.name}` : "api" };
}

const uri = (p: string) => `/api/v2/${p}`;
const abs = (p: string) => `${publicBase()}${p}`;

export function stateId(workflowId: string, wf: Workflow, label: string): string {
  return `${workflowId}.${wf.states.findIndex((s) => s.label === label)}`;
}

function stateSummary(workflowId: string, wf: Workflow, label: string | null) {
  if (label === null) return null;
  const id = stateId(workflowId, wf, label);
  return { id, label, uri: uri(`states/${id}`) };
}

async function experimentDoc(prisma: PrismaClient, experimentId: string) {
  const e = await prisma.archiveExperiment.findUniqueOrThrow({
    where: { id: experimentId },
    select: {
      id: true,
      label: true,
      projectId: true,
      studyDate: true,
      subject: { select: { id: true, label: true } },
      governor: { select: { workflowId: true, state: true, stateSince: true, waitingFor: true, lastError: true, paused: true, variables: { select: { label: true, value: true } } } },
    },
  });
  const g = e.governor;
  const wf = g ? await workflowOf(prisma, g.workflowId) : null;
  const u = uri(`experiments/${e.id}`);
  return {
    id: e.id,
    label: e.label,
    uri: u,
    api_uri: abs(u),
    web_uri: abs(`/projects/${encodeURIComponent(e.projectId)}/workflow/${e.id}`),
    subject: { id: e.subject.id, label: e.subject.label, uri: uri(`subjects/${e.subject.id}`) },
    scandate: e.studyDate && /^\d{8}$/.test(e.studyDate) ? `${e.studyDate.slice(0, 4)}-${e.studyDate.slice(4, 6)}-${e.studyDate.slice(6, 8)}T00:00:00` : null,
    state: g && wf ? stateSummary(g.workflowId, wf, g.state) : null,
    external_ids: {},
    variable_map: Object.fromEntries((g?.variables ?? []).map((v) => [v.label, v.value])),
    // Atrium's additions (ignored by Study Governor clients)
    workflow: g && wf ? { id: g.workflowId, label: wf.label, uri: uri(`workflows/${g.workflowId}`) } : null,
    state_since: g?.stateSince ?? null,
    waiting_for: g?.waitingFor ?? null,
    error: g?.lastError ?? null,
    paused: g?.paused ?? false,
  };
}

function executionSummary(x: { id: string; callback: string; status: string; result: string }) {
  return { id: x.id, label: x.callback, uri: uri(`callback_executions/${x.id}`), status: x.status, result: x.result };
}

type ActionRow = {
  id: string;
  revision: number;
  fromState: string | null;
  toState: string;
  cause: string;
  freetext: string;
  trace: unknown;
  success: boolean;
  startTime: Date;
  endTime: Date | null;
  actor: { name: string | null; email: string | null } | null;
  executions: { id: string; callback: string; status: string; result: string }[];
};

function actionDoc(experimentId: string, workflowId: string, wf: Workflow, a: ActionRow) {
  const from = a.fromState === null ? null : wf.states.findIndex((s) => s.label === a.fromState);
  const tIndex = from === null || from < 0 ? -1 : wf.states[from]!.transitions.findIndex((t) => t.destination === a.toState);
  const transition = from !== null && tIndex >= 0 ? { id: `${workflowId}.${from}.${tIndex}`, uri: uri(`transitions/${workflowId}.${from}.${tIndex}`) } : null;
  return {
    id: a.id,
    uri: uri(`actions/${a.id}`),
    experiment: { id: experimentId, uri: uri(`experiments/${experimentId}`) },
    transition,
    source_state: a.fromState === null ? null : stateSummary(workflowId, wf, a.fromState),
    destination_state: stateSummary(workflowId, wf, a.toState),
    executions: a.executions.map(executionSummary),
    success: a.success,
    return_value: a.trace ? JSON.stringify(a.trace) : null,
    freetext: a.freetext,
    start_time: a.startTime,
    end_time: a.endTime,
    cause: a.cause,
    actor: a.actor ? (a.actor.name ?? a.actor.email) : a.cause.startsWith("api:token") ? a.cause.slice(4) : "system",
  };
}

async function experimentOr404(id: string) {
  const prisma = await db();
  const e = await prisma.archiveExperiment.findUnique({ where: { id }, select: { id: true, projectId: true, governor: { select: { id: true, workflowId: true, state: true } } } });
  return { prisma, e };
}

// ---- Handlers (one per route method) -------------------------------------------------------------

const listQuery = z.object({
  project: z.string().min(1).max(64).optional(),
  state: z.string().min(1).max(128).optional(),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** GET /api/v2/experiments?state=&offset=&limit= (a token's project, or ?project= with a session). */
export async function listExperiments(req: Request): Promise<Response> {
  if (!hasCredentials(req.headers)) return tokenError(401, NO_CREDENTIALS);
  const q = listQuery.safeParse(Object.fromEntries(new URL(req.url).searchParams));
  if (!q.success) return jsonError(400, `Bad query: ${q.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}.`);
  let projectId = q.data.project;
  const t = await authenticateToken(await db(), req.headers);
  if (t.kind === "invalid") return tokenError(401, t.message, "invalid_token");
  if (t.kind === "ok") projectId ??= t.token.projectId;
  if (!projectId) return jsonError(400, "Name the project: GET /api/v2/experiments?project=<projectId> (a project token names it by itself).");
  const a = await access(req.headers, projectId, false);
  if (!a.ok) return a.response;
  const rows = await a.prisma.governorExperiment.findMany({
    where: { projectId, ...(q.data.state ? { state: q.data.state } : {}) },
    orderBy: { createdAt: "asc" },
    skip: q.data.offset,
    take: q.data.limit,
    select: { experimentId: true },
  });
  const experiments = [];
  for (const r of rows) experiments.push(await experimentDoc(a.prisma, r.experimentId));
  return json({ experiments });
}

/** GET /api/v2/experiments/{id} */
export async function getExperiment(req: Request, id: string): Promise<Response> {
  if (!hasCredentials(req.headers)) return tokenError(401, NO_CREDENTIALS);
  const { e } = await experimentOr404(id);
  if (!e) return jsonError(404, `No experiment ${id}.`);
  const a = await access(req.headers, e.projectId, false);
  if (!a.ok) return a.response;
  return json(await experimentDoc(a.prisma, id));
}

/** GET /api/v2/experiments/{id}/actions */
export async function getExperimentActions(req: Request, id: string): Promise<Response> {
  if (!hasCredentials(req.headers)) return tokenError(401, NO_CREDENTIALS);
  const { e } = await experimentOr404(id);
  if (!e) return jsonError(404, `No experiment ${id}.`);
  const a = await access(req.headers, e.projectId, false);
  if (!a.ok) return a.response;
  if (!e.governor) return json({ actions: [] });
  const wf = await workflowOf(a.prisma, e.governor.workflowId);
  const rows = await a.prisma.governorAction.findMany({
    where: { govExperimentId: e.governor.id },
    orderBy: { revision: "asc" },
    include: { executions: { select: { id: true, callback: true, status: true, result: true }, orderBy: { created: "asc" } } },
  });
  const actors = await actorsOf(a.prisma, rows.map((r) => r.actorId));
  return json({ actions: rows.map((r) => actionDoc(id, e.governor!.workflowId, wf, { ...r, actor: r.actorId ? (actors.get(r.actorId) ?? null) : null })) });
}

async function actorsOf(prisma: PrismaClient, ids: (string | null)[]) {
  const want = [...new Set(ids.filter((x): x is string => Boolean(x)))];
  const users = want.length ? await prisma.user.findMany({ where: { id: { in: want } }, select: { id: true, name: true, email: true } }) : [];
  return new Map(users.map((u) => [u.id, { name: u.name, email: u.email }]));
}

/** GET /api/v2/experiments/{id}/state */
export async function getExperimentState(req: Request, id: string): Promise<Response> {
  if (!hasCredentials(req.headers)) return tokenError(401, NO_CREDENTIALS);
  const { e } = await experimentOr404(id);
  if (!e) return jsonError(404, `No experiment ${id}.`);
  const a = await access(req.headers, e.projectId, false);
  if (!a.ok) return a.response;
  if (!e.governor) return json({ state: null });
  const wf = await workflowOf(a.prisma, e.governor.workflowId);
  return json({ state: stateSummary(e.governor.workflowId, wf, e.governor.state) });
}

async function readJson(req: Request): Promise<{ ok: true; body: unknown } | { ok: false; response: Response }> {
  const text = await req.text();
  if (text.length > 2_000_000) return { ok: false, response: jsonError(413, "The body is too large (at most 2 MB).") };
  if (!text.trim()) return { ok: true, body: {} };
  try {
    return { ok: true, body: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, response: jsonError(400, "The body is not valid JSON.") };
  }
}

const zodMessage = (e: z.ZodError) => e.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");

/** PUT /api/v2/experiments/{id}/state {state_label, freetext?} → {state, error, success} (404 unknown state, 409 no valid transition). */
export async function putExperimentState(req: Request, id: string): Promise<Response> {
  if (!hasCredentials(req.headers)) return tokenError(401, NO_CREDENTIALS);
  const { e } = await experimentOr404(id);
  if (!e) return jsonError(404, `No experiment ${id}.`);
  const a = await access(req.headers, e.projectId, true);
  if (!a.ok) return a.response;
  const raw = await readJson(req);
  if (!raw.ok) return raw.response;
  const body = experimentStateUpdateSchema.safeParse(raw.body);
  if (!body.success) return jsonError(400, `Send {"state_label": "<state>", "freetext": "<why>"}: ${zodMessage(body.error)}.`);
  if (!e.governor) return json({ state: null, success: false, error: { errorclass: "StateChangeError", message: "This experiment is in no workflow: the project has none, or it was archived before one was imported." } }, 409);
  const wf = await workflowOf(a.prisma, e.governor.workflowId);
  try {
    const r = await setExperimentState(a.prisma, e.governor.id, body.data.state_label, { force: false, freetext: body.data.freetext, actorId: a.actorId, cause: a.via });
    return json({ state: stateSummary(e.governor.workflowId, wf, r.state), error: null, success: true });
  } catch (err) {
    if (err instanceof ProtocolError) {
      const now = await a.prisma.governorExperiment.findUnique({ where: { id: e.governor.id }, select: { state: true } });
      return json({ state: stateSummary(e.governor.workflowId, wf, now?.state ?? null), error: { errorclass: err.errorclass, message: err.message }, success: false }, err.status);
    }
    throw err;
  }
}

function parseStateId(id: string): { workflowId: string; index: number } | null {
  const m = /^([A-Za-z0-9_-]{1,64})\.(\d{1,4})$/.exec(id);
  return m ? { workflowId: m[1]!, index: Number(m[2]) } : null;
}

/** GET /api/v2/states/{id}: the state, its callbacks and (a page of) the experiments in it. */
export async function getState(req: Request, id: string): Promise<Response> {
  if (!hasCredentials(req.headers)) return tokenError(401, NO_CREDENTIALS);
  const p = parseStateId(id);
  const prisma = await db();
  const row = p ? await prisma.governorWorkflow.findUnique({ where: { id: p.workflowId }, select: { id: true, projectId: true, label: true } }) : null;
  if (!p || !row) return jsonError(404, `No state ${id} (state ids look like <workflowId>.<index>, as experiments' state.id gives them).`);
  const a = await access(req.headers, row.projectId, false);
  if (!a.ok) return a.response;
  const wf = await workflowOf(prisma, row.id);
  const s = wf.states[p.index];
  if (!s) return jsonError(404, `No state ${id}: the workflow has ${wf.states.length} states.`);
  const exps = await prisma.governorExperiment.findMany({ where: { workflowId: row.id, state: s.label }, select: { experimentId: true, experiment: { select: { label: true } } }, take: 1000, orderBy: { stateSince: "asc" } });
  const u = uri(`states/${id}`);
  return json({
    id,
    label: s.label,
    uri: u,
    api_uri: abs(u),
    freetext: s.freetext,
    workflow: { id: row.id, label: row.label, uri: uri(`workflows/${row.id}`) },
    callbacks: s.callbacks.map((c) => ({ label: c.label, function: c.function, callback_arguments: c.callback_arguments, variable_map: c.variable_map, run_timeout: c.run_timeout, wait_timeout: c.wait_timeout, initial_delay: c.initial_delay, description: c.description, condition: c.condition })),
    transitions: s.transitions.map((t, j) => ({ id: `${row.id}.${p.index}.${j}`, uri: uri(`transitions/${row.id}.${p.index}.${j}`), destination: stateSummary(row.id, wf, t.destination), condition: t.condition })),
    experiments: exps.map((x) => ({ id: x.experimentId, label: x.experiment.label, uri: uri(`experiments/${x.experimentId}`) })),
  });
}

/** GET /api/v2/transitions/{id} */
export async function getTransition(req: Request, id: string): Promise<Response> {
  if (!hasCredentials(req.headers)) return tokenError(401, NO_CREDENTIALS);
  const m = /^([A-Za-z0-9_-]{1,64})\.(\d{1,4})\.(\d{1,4})$/.exec(id);
  const prisma = await db();
  const row = m ? await prisma.governorWorkflow.findUnique({ where: { id: m[1]! }, select: { id: true, projectId: true } }) : null;
  if (!m || !row) return jsonError(404, `No transition ${id} (transition ids look like <workflowId>.<stateIndex>.<transitionIndex>).`);
  const a = await access(req.headers, row.projectId, false);
  if (!a.ok) return a.response;
  const wf = await workflowOf(prisma, row.id);
  const s = wf.states[Number(m[2])];
  const t = s?.transitions[Number(m[3])];
  if (!s || !t) return jsonError(404, `No transition ${id} in this workflow.`);
  const u = uri(`transitions/${id}`);
  return json({ id, uri: u, api_uri: abs(u), source_state: stateSummary(row.id, wf, s.label), destination_state: stateSummary(row.id, wf, t.destination), condition: t.condition });
}

// ---- The callback protocol -----------------------------------------------------------------------

async function executionRow(prisma: PrismaClient, id: string) {
  return prisma.governorCallbackExecution.findUnique({
    where: { id },
    include: {
      action: {
        include: {
          executions: { select: { id: true, callback: true, status: true, result: true } },
          experiment: { select: { id: true, projectId: true, workflowId: true, experimentId: true, experiment: { select: { label: true, subject: { select: { id: true, label: true } } } } } },
        },
      },
    },
  });
}

async function executionDoc(prisma: PrismaClient, x: NonNullable<Awaited<ReturnType<typeof executionRow>>>) {
  const gx = x.action.experiment;
  const wf = await workflowOf(prisma, gx.workflowId);
  const st = stateOf(wf, x.action.toState);
  const cb = st.callbacks.find((c) => c.label === x.callback);
  const u = uri(`callback_executions/${x.id}`);
  const actor = x.action.actorId ? (await actorsOf(prisma, [x.action.actorId])).get(x.action.actorId) ?? null : null;
  return {
    id: x.id,
    uri: u,
    api_uri: abs(u),
    callback: {
      label: x.callback,
      function: x.function,
      state: stateSummary(gx.workflowId, wf, x.action.toState),
      callback_arguments: cb?.callback_arguments ?? {},
      variable_map: cb?.variable_map ?? {},
      run_timeout: cb?.run_timeout ?? null,
      wait_timeout: cb?.wait_timeout ?? null,
      initial_delay: cb?.initial_delay ?? null,
      description: cb?.description ?? "",
      condition: cb?.condition ?? "",
    },
    cohort: { id: gx.projectId, label: gx.projectId, uri: uri(`cohorts/${gx.projectId}`) },
    subject: { id: gx.experiment.subject.id, label: gx.experiment.subject.label, uri: uri(`subjects/${gx.experiment.subject.id}`) },
    experiment: { id: gx.experimentId, label: gx.experiment.label, uri: uri(`experiments/${gx.experimentId}`), api_uri: abs(uri(`experiments/${gx.experimentId}`)) },
    action: actionDoc(gx.experimentId, gx.workflowId, wf, { ...x.action, actor }),
    external_systems: {},
    status: x.status,
    result: x.result,
    run_log: x.runLog,
    result_log: x.resultLog,
    result_values: x.resultValues ?? {},
    created: x.created,
    run_start: x.runStart,
    wait_start: x.waitStart,
    finished: x.finished,
  };
}

function secretFrom(req: Request, body: unknown): string | undefined {
  const h = req.headers.get("x-callback-secret") ?? undefined;
  if (h) return h;
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    const v = b.secret_key ?? b.secret;
    if (typeof v === "string") return v;
  }
  return undefined;
}

/** Who may touch an execution: its secret, or project access (member to change, collaborator to read). */
async function executionAccess(req: Request, prisma: PrismaClient, x: { secretHash: string; action: { experiment: { projectId: string } } }, secret: string | undefined, write: boolean): Promise<Access> {
  if (secret !== undefined) {
    if (!secretMatches(x.secretHash, secret)) return { ok: false, response: jsonError(403, "The secret_key does not match this callback execution (use the secret handed to the callback: $CALLBACK_SECRET).") };
    return { ok: true, prisma, actorId: null, via: "callback secret" };
  }
  return access(req.headers, x.action.experiment.projectId, write);
}

/** GET /api/v2/callback_executions/{id} (secret in a JSON body or X-Callback-Secret, or project access). */
export async function getCallbackExecution(req: Request, id: string): Promise<Response> {
  const raw = await readJson(req).catch(() => ({ ok: true as const, body: {} }));
  const body = raw.ok ? raw.body : {};
  const secret = secretFrom(req, body);
  if (secret === undefined && !hasCredentials(req.headers))
    return tokenError(401, "Send the execution's secret (JSON body {\"secret_key\": …} or the X-Callback-Secret header) or a project API token.");
  const prisma = await db();
  const x = await executionRow(prisma, id);
  if (!x) return jsonError(404, `No callback execution ${id}.`);
  const a = await executionAccess(req, prisma, x, secret, false);
  if (!a.ok) return a.response;
  return json(await executionDoc(prisma, x));
}

/**
 * PUT /api/v2/callback_executions/{id} {status, result, run_log, result_log, result_values, secret_key|secret}:
 * 403 for a wrong secret, 409 once the execution is resolved; resolving it evaluates the experiment.
 */
export async function putCallbackExecution(req: Request, id: string): Promise<Response> {
  const raw = await readJson(req);
  if (!raw.ok) return raw.response;
  const secret = secretFrom(req, raw.body);
  if (secret === undefined && !hasCredentials(req.headers))
    return tokenError(401, "Send the execution's secret_key (as handed to the callback) in the JSON body, or a project API token with the \"workflow\" scope.");
  const body = callbackExecutionUpdateSchema.safeParse(raw.body);
  if (!body.success) return jsonError(400, `Bad callback execution update: ${zodMessage(body.error)}. Fields: status, result, run_log, result_log, result_values, secret_key.`);
  const prisma = await db();
  const x = await executionRow(prisma, id);
  if (!x) return jsonError(404, `No callback execution ${id}.`);
  if (secret !== undefined) {
    const verdict = checkUpdate({ status: x.status as ExecStatus, secretHash: x.secretHash }, { ...body.data, secret_key: secret });
    if (!verdict.ok) return jsonError(verdict.status, verdict.error);
  } else {
    const a = await executionAccess(req, prisma, x, undefined, true);
    if (!a.ok) return a.response;
    if (isResolved(x.status as ExecStatus)) return jsonError(409, `This callback execution is already resolved (${x.status}); it cannot change.`);
  }
  try {
    await updateExecution(prisma, id, body.data);
  } catch (err) {
    if (err instanceof ProtocolError) return jsonError(err.status, err.message);
    throw err;
  }
  return json(await executionDoc(prisma, (await executionRow(prisma, id))!));
}
