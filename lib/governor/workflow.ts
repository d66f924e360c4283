// Atrium's workflow format (issue #16): one zod schema, a superset of Study Governor v8 files,
// and the importer for v8 and pre-6 YAML (top-level transitions). Whatever cannot be mapped is
// refused with the file line and the reason.
import { z } from "zod";
import { LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import { parseCondition, ConditionSyntaxError } from "./expr";

/** Callback functions Atrium runs (see callbacks.ts); refused ones are listed with a reason. */
export const CALLBACK_FUNCTIONS = [
  "command",
  "external_program",
  "send_mail",
  "webhook",
  "sleep",
  "fastr",
  "create_task",
  "create_taskgroup",
] as const;
export const REFUSED_FUNCTIONS: Record<string, string> = {
  python_function:
    "python_function runs arbitrary Python inside the governor; Atrium does not. Register the code as a site program and use 'external_program' instead",
  castor: "castor (Castor EDC export) is not supported by Atrium; use 'webhook' to push results to another system",
};

const label = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.\- ]+$/, "a label uses letters, digits, space, '_', '.', '-'");

export const callbackSchema = z.object({
  label,
  function: z.enum(CALLBACK_FUNCTIONS),
  callback_arguments: z.record(z.string(), z.unknown()).default({}),
  variable_map: z.record(z.string(), z.string()).default({}),
  /** minutes (Study Governor unit) */
  run_timeout: z.number().nonnegative().default(60),
  /** minutes; 0 = the callback finishes when it returns */
  wait_timeout: z.number().nonnegative().default(0),
  /** seconds */
  initial_delay: z.number().nonnegative().default(0),
  description: z.string().default(""),
  condition: z.string().default(""),
});
export type CallbackDef = z.infer<typeof callbackSchema>;

export const transitionSchema = z.object({
  destination: label,
  condition: z.string().default(""),
});

export const stateSchema = z.object({
  label,
  freetext: z.string().default(""),
  callbacks: z.array(callbackSchema).default([]),
  transitions: z.array(transitionSchema).default([]),
});
export type StateDef = z.infer<typeof stateSchema>;

export const workflowSchema = z
  .object({
    label,
    description: z.string().default(""),
    states: z.array(stateSchema).min(1),
  })
  .superRefine((wf, ctx) => {
    for (const p of workflowProblems(wf)) ctx.addIssue({ code: "custom", message: p.message, path: p.path });
  });
export type Workflow = z.infer<typeof workflowSchema>;

type Problem = { message: string; path: (string | number)[] };

/** Structural checks: unique labels, known destinations, one root, conditions that parse. */
export function workflowProblems(wf: { states: StateDef[] }): Problem[] {
  const out: Problem[] = [];
  const labels = new Set<string>();
  wf.states.forEach((s, i) => {
    if (labels.has(s.label)) out.push({ message: `state '${s.label}' is defined twice`, path: ["states", i, "label"] });
    labels.add(s.label);
  });
  const incoming = new Set<string>();
  wf.states.forEach((s, i) => {
    const cbl = new Set<string>();
    s.callbacks.forEach((c, j) => {
      if (cbl.has(c.label)) out.push({ message: `callback '${c.label}' is defined twice in state '${s.label}'`, path: ["states", i, "callbacks", j, "label"] });
      cbl.add(c.label);
      const err = conditionError(c.condition);
      if (err) out.push({ message: `callback '${c.label}': condition does not parse: ${err}`, path: ["states", i, "callbacks", j, "condition"] });
    });
    s.transitions.forEach((t, j) => {
      if (!labels.has(t.destination))
        out.push({ message: `transition from '${s.label}' goes to unknown state '${t.destination}'`, path: ["states", i, "transitions", j, "destination"] });
      incoming.add(t.destination);
      const err = conditionError(t.condition);
      if (err) out.push({ message: `transition ${s.label} → ${t.destination}: condition does not parse: ${err}`, path: ["states", i, "transitions", j, "condition"] });
    });
  });
  const roots = wf.states.filter((s) => !incoming.has(s.label));
  if (roots.length !== 1)
    out.push({
      message:
        roots.length === 0
          ? "the workflow has no root state (a state without incoming transitions)"
          : `the workflow has ${roots.length} root states (${roots.map((r) => r.label).join(", ")}); exactly one state may have no incoming transitions`,
      path: ["states"],
    });
  else if (roots[0]!.transitions.length === 0 && wf.states.length > 1)
    out.push({ message: `the root state '${roots[0]!.label}' has no outgoing transition`, path: ["states"] });
  return out;
}

function conditionError(c: string): string | null {
  if (!c.trim()) return null;
  try {
    parseCondition(c);
    return null;
  } catch (e) {
    if (e instanceof ConditionSyntaxError) return e.message;
    throw e;
  }
}

export function rootState(wf: Workflow): StateDef {
  const incoming = new Set(wf.states.flatMap((s) => s.transitions.map((t) => t.destination)));
  return wf.states.find((s) => !incoming.has(s.label))!;
}

export class WorkflowImportError extends Error {
  constructor(readonly problems: { line: number | null; message: string }[]) {
    super(
      "the workflow file cannot be imported:\n" +
        problems.map((p) => `  ${p.line ? `line ${p.line}: ` : ""}${p.message}`).join("\n"),
    );
    this.name = "WorkflowImportError";
  }
}

export interface ImportResult {
  workflow: Workflow;
  format: "v8" | "pre6" | "atrium";
  warnings: { line: number | null; message: string }[];
}

/** Imports a Study Governor v8 or pre-6 workflow YAML (or Atrium's own) as-is. */
export function importWorkflowYaml(text: string): ImportResult {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const lineOf = (n: YamlNode | null | undefined): number | null => (n?.range ? lc.linePos(n.range[0]).line : null);
  if (doc.errors.length)
    throw new WorkflowImportError(doc.errors.map((e) => ({ line: lc.linePos(e.pos[0]).line, message: e.message.split("\n")[0]! })));
  const nodeAt = (path: (string | number)[]): YamlNode | null => {
    for (let i = path.length; i >= 0; i--) {
      const n = doc.getIn(path.slice(0, i), true) as YamlNode | undefined;
      if (n && typeof n === "object" && "range" in n) return n;
    }
    return null;
  };
  const raw = doc.toJS() as unknown;
  const problems: { line: number | null; message: string }[] = [];
  const warnings: { line: number | null; message: string }[] = [];
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw new WorkflowImportError([{ line: 1, message: "a workflow file is a mapping with 'label' and 'states'" }]);
  const top = raw as Record<string, unknown>;
  let format: ImportResult["format"] = "v8";
  for (const k of ["external_systems", "scantypes"])
    if (k in top) {
      warnings.push({ line: lineOf(nodeAt([k])), message: `'${k}' in a workflow file is ignored (configure it in the project)` });
      delete top[k];
    }
  const states = Array.isArray(top.states) ? (top.states as Record<string, unknown>[]) : [];
  // pre-6: top-level transitions [{source, destination, condition?}], one `callback` + `lifespan` per state.
  if (Array.isArray(top.transitions)) {
    format = "pre6";
    (top.transitions as Record<string, unknown>[]).forEach((t, i) => {
      const src = states.find((s) => s && s.label === t?.source);
      if (!src) {
        problems.push({ line: lineOf(nodeAt(["transitions", i])), message: `transition source '${String(t?.source)}' is not a state` });
        return;
      }
      const list = (src.transitions ??= []) as unknown[];
      list.push({ destination: t.destination, ...(t.condition ? { condition: t.condition } : {}) });
    });
    delete top.transitions;
  }
  states.forEach((s, i) => {
    if (!s || typeof s !== "object") return;
    if ("callback" in s) {
      format = "pre6";
      if (s.callback) {
        const cb = s.callback as Record<string, unknown>;
        (s.callbacks ??= []) as unknown[];
        (s.callbacks as unknown[]).push({ label: cb.label ?? `${String(s.label)}_callback`, ...cb });
      }
      delete s.callback;
    }
    if ("lifespan" in s) {
      warnings.push({ line: lineOf(nodeAt(["states", i, "lifespan"])), message: "'lifespan' (pre-6) is ignored; use run_timeout/wait_timeout on callbacks" });
      delete s.lifespan;
    }
    const cbs = Array.isArray(s.callbacks) ? (s.callbacks as Record<string, unknown>[]) : [];
    cbs.forEach((c, j) => {
      if (!c || typeof c !== "object") return;
      const fn = String(c.function ?? "");
      if (fn in REFUSED_FUNCTIONS)
        problems.push({ line: lineOf(nodeAt(["states", i, "callbacks", j, "function"])), message: `callback '${String(c.label)}': ${REFUSED_FUNCTIONS[fn]}` });
      for (const key of ["callback_arguments", "variable_map"]) {
        if (typeof c[key] === "string") {
          // Study Governor stores these as YAML text; accept an embedded YAML/JSON mapping.
          const inner = parseDocument(c[key] as string).toJS() as unknown;
          if (inner === null || inner === undefined || inner === "") c[key] = {};
          else if (typeof inner === "object" && !Array.isArray(inner)) c[key] = inner;
          else problems.push({ line: lineOf(nodeAt(["states", i, "callbacks", j, key])), message: `callback '${String(c.label)}': ${key} must be a mapping` });
        } else if (c[key] === null) c[key] = {};
      }
      if (c.condition === null) delete c.condition;
    });
    if (s.freetext === null) delete s.freetext;
    for (const t of Array.isArray(s.transitions) ? (s.transitions as Record<string, unknown>[]) : [])
      if (t && t.condition === null) delete t.condition;
  });
  if (problems.length) throw new WorkflowImportError(problems);
  // Pre-6 paths point into the file; after moving transitions, map by state label instead.
  const r = workflowSchema.safeParse(top);
  if (!r.success) {
    throw new WorkflowImportError(
      r.error.issues.map((iss) => {
        const path = iss.path.map((p) => (typeof p === "symbol" ? String(p) : p));
        let line = lineOf(nodeAt(path as (string | number)[]));
        if (format === "pre6" && path[2] === "transitions") {
          const st = states[path[1] as number];
          const idx = ((doc.get("transitions") as { items?: unknown[] } | undefined)?.items ?? []).findIndex(
            (_, k) => (doc.getIn(["transitions", k, "source"]) as unknown) === st?.label,
          );
          if (idx >= 0) line = lineOf(nodeAt(["transitions", idx]));
        }
        return { line, message: `${path.join(".") || "(file)"}: ${iss.message}` };
      }),
    );
  }
  return { workflow: r.data, format, warnings };
}
