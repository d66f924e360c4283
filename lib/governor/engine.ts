// The pure workflow state machine (issue #16), after Study Governor's control.py with two
// deliberate differences: a state whose callbacks are all skipped (or that has none) advances by
// itself, and conditions are evaluated by the safe evaluator in expr.ts.
import { ConditionEvalError, ConditionSyntaxError, evaluateCondition } from "./expr";
import { rootState, type CallbackDef, type StateDef, type Workflow } from "./workflow";

export const EXEC_STATUSES = ["created", "skipped", "queued", "running", "waiting", "finished"] as const;
export type ExecStatus = (typeof EXEC_STATUSES)[number];
export const EXEC_RESULTS = ["none", "success", "failed", "timeout"] as const;
export type ExecResult = (typeof EXEC_RESULTS)[number];

export const isResolved = (s: ExecStatus) => s === "skipped" || s === "finished";

export interface Execution {
  callback: string;
  status: ExecStatus;
  result: ExecResult;
  resultValues: Record<string, unknown> | null;
  created: Date;
  runStart: Date | null;
  waitStart: Date | null;
  finished: Date | null;
}

export interface ExperimentFacts {
  label: string;
  state: string | null;
  variables: Record<string, unknown>;
  scandate?: string | null;
  scans?: { modality: string | null; description: string | null; count: number }[];
  archived?: boolean;
  /** values pipelines stored on the experiment, by name */
  values?: Record<string, unknown>;
  /** expected versus received (lib/governor/expected.ts): the experiment's visit has every required scan */
  complete?: boolean;
  visit?: string | null;
  missing?: string[];
}

/** The names a condition can use. */
export function conditionScope(exp: ExperimentFacts, execs: Execution[], now: Date): Record<string, unknown> {
  const callbacks: Record<string, unknown> = {};
  for (const e of execs) callbacks[e.callback] = { status: e.status, result: e.result, result_values: e.resultValues ?? {} };
  return {
    experiment: {
      label: exp.label,
      state: exp.state,
      variables: exp.variables,
      scandate: exp.scandate ?? null,
      scans: exp.scans ?? [],
      archived: exp.archived ?? false,
      values: exp.values ?? {},
      complete: exp.complete ?? false,
      visit: exp.visit ?? null,
      missing: exp.missing ?? [],
    },
    callbacks,
    now: now.toISOString(),
    time: { now: now.toISOString(), epoch: Math.floor(now.getTime() / 1000) },
  };
}

export class ConditionFailedError extends Error {
  constructor(
    readonly where: string,
    readonly reason: string,
  ) {
    super(`${where}: the condition could not be evaluated: ${reason}`);
    this.name = "ConditionFailedError";
  }
}

function check(cond: string, scope: Record<string, unknown>, where: string): boolean {
  try {
    return evaluateCondition(cond, scope);
  } catch (e) {
    if (e instanceof ConditionEvalError || e instanceof ConditionSyntaxError) throw new ConditionFailedError(where, e.message);
    throw e;
  }
}

export function stateOf(wf: Workflow, label: string): StateDef {
  const s = wf.states.find((x) => x.label === label);
  if (!s) throw new Error(`state '${label}' is not in workflow '${wf.label}'`);
  return s;
}

/** The executions created on entering a state: each callback's own condition decides created vs skipped. */
export function enterState(wf: Workflow, state: string, exp: ExperimentFacts, prev: Execution[], now: Date): Execution[] {
  const s = stateOf(wf, state);
  const scope = conditionScope({ ...exp, state }, prev, now);
  return s.callbacks.map((cb) => ({
    callback: cb.label,
    status: check(cb.condition, scope, `callback '${cb.label}' in state '${state}'`) ? "created" : "skipped",
    result: "none",
    resultValues: null,
    created: now,
    runStart: null,
    waitStart: null,
    finished: null,
  }));
}

export interface TransitionTrace {
  destination: string;
  condition: string;
  test_result: boolean;
}

export type Decision =
  | { kind: "wait"; reason: string }
  | { kind: "transition"; to: string; trace: TransitionTrace[] }
  | { kind: "stay"; trace: TransitionTrace[] };

/**
 * Decides what happens to an experiment in `state` whose current executions are `execs`:
 * wait while any is unresolved, otherwise take the first transition whose condition is true.
 */
export function decide(wf: Workflow, exp: ExperimentFacts, execs: Execution[], now: Date): Decision {
  if (exp.state === null) return { kind: "transition", to: rootState(wf).label, trace: [] };
  const s = stateOf(wf, exp.state);
  const open = execs.filter((e) => !isResolved(e.status));
  if (open.length) return { kind: "wait", reason: `waiting for ${open.map((e) => `${e.callback} (${e.status})`).join(", ")}` };
  const scope = conditionScope(exp, execs, now);
  const trace: TransitionTrace[] = [];
  for (const t of s.transitions) {
    const ok = check(t.condition, scope, `transition ${s.label} → ${t.destination}`);
    trace.push({ destination: t.destination, condition: t.condition, test_result: ok });
    if (ok) return { kind: "transition", to: t.destination, trace };
  }
  return { kind: "stay", trace };
}

/** Study Governor's create_experiment: the root's outgoing transition is taken at once. */
export function initialState(wf: Workflow): string {
  return rootState(wf).label;
}

/** When an execution must time out (run_timeout from runStart, wait_timeout from waitStart); null = never. */
export function deadline(cb: CallbackDef, e: Execution): Date | null {
  if (e.status === "running" && e.runStart) return new Date(e.runStart.getTime() + cb.run_timeout * 60_000);
  if (e.status === "waiting" && e.waitStart && cb.wait_timeout > 0) return new Date(e.waitStart.getTime() + cb.wait_timeout * 60_000);
  return null;
}

/** When a created execution may start (initial_delay seconds after creation). */
export function startAt(cb: CallbackDef, e: Execution): Date {
  return new Date(e.created.getTime() + cb.initial_delay * 1000);
}

/** Applies the timeout rule at `now`; returns the executions that changed. */
export function expire(s: StateDef, execs: Execution[], now: Date): Execution[] {
  const changed: Execution[] = [];
  for (const e of execs) {
    const cb = s.callbacks.find((c) => c.label === e.callback);
    if (!cb) continue;
    const d = deadline(cb, e);
    if (d && d.getTime() <= now.getTime()) {
      e.status = "finished";
      e.result = "timeout";
      e.finished = now;
      changed.push(e);
    }
  }
  return changed;
}

/** What a runner's return means for the execution (Study Governor's master_callback). */
export function afterRun(cb: CallbackDef, success: boolean, now: Date): Pick<Execution, "status" | "result" | "waitStart" | "finished"> {
  if (!success) return { status: "finished", result: "failed", waitStart: null, finished: now };
  if (cb.wait_timeout === 0) return { status: "finished", result: "success", waitStart: null, finished: now };
  return { status: "waiting", result: "none", waitStart: now, finished: null };
}

/** Resolves an RFC 6901 JSON pointer (a leading '/' is added if missing); unresolvable → null. */
export function jsonPointer(doc: unknown, pointer: string): unknown {
  const p = pointer.startsWith("/") ? pointer : `/${pointer}`;
  if (p === "/") return doc ?? null;
  let cur: unknown = doc;
  for (const raw of p.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (cur === null || typeof cur !== "object") return null;
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(key)) return null;
      cur = cur[Number(key)];
    } else {
      if (!Object.prototype.hasOwnProperty.call(cur, key)) return null;
      cur = (cur as Record<string, unknown>)[key];
    }
    if (cur === undefined) return null;
  }
  return cur;
}

/** The experiment variables an execution sets: only on success with values and a variable_map. */
export function mappedVariables(cb: CallbackDef, e: Pick<Execution, "result" | "resultValues">): Record<string, unknown> {
  if (e.result !== "success" || !e.resultValues || Object.keys(e.resultValues).length === 0) return {};
  const out: Record<string, unknown> = {};
  for (const [target, src] of Object.entries(cb.variable_map)) out[target] = jsonPointer(e.resultValues, src);
  return out;
}

/** Manual state change: Study Governor requires a direct transition current → target. */
export function canSetState(wf: Workflow, from: string | null, to: string): boolean {
  if (!wf.states.some((s) => s.label === to)) return false;
  if (from === null) return to === rootState(wf).label;
  return stateOf(wf, from).transitions.some((t) => t.destination === to);
}
