// A reader's answers and annotations, and their validation against the template: the same function
// runs in the browser as the reader types and on the server before anything is stored. A draft is
// checked for types only; a submit also for required answers, ranges and annotation rules.
import { z } from "zod";
import { questionsOf, toolId, type Question, type ShowIf, type TaskTemplate } from "./template";

export const AnswerValue = z.union([z.string().max(20000), z.number(), z.boolean(), z.array(z.string().max(200)).max(200), z.null()]);
export type AnswerValue = z.infer<typeof AnswerValue>;

/** One annotation made in the viewer (stored as the viewer issue gives it; checked by the rules). */
export const Annotation = z
  .object({
    id: z.string().min(1).max(100),
    context: z.string().min(1).max(40),
    /** The tool id of the context (lib/tasks/template.ts toolId). */
    tool: z.string().min(1).max(40),
    label: z.string().max(60).optional(),
    viewport: z.string().max(40).optional(),
    seriesInstanceUid: z.string().max(64).optional(),
    sopInstanceUid: z.string().max(64).optional(),
    frame: z.number().int().min(1).optional(),
    /** Points in patient (world) coordinates, mm. */
    points: z.array(z.tuple([z.number(), z.number(), z.number()])).max(10000).default([]),
    /** Tool-specific values (length in mm, ROI statistics, a labelmap reference). */
    data: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type Annotation = z.infer<typeof Annotation>;

export const Submission = z
  .object({
    answers: z.record(z.string().max(40), AnswerValue).default({}),
    annotations: z.array(Annotation).max(5000).default([]),
    /** Milliseconds the reader worked since the last save (added to the task's time spent). */
    elapsedMs: z.number().int().min(0).max(24 * 3600 * 1000).optional(),
  })
  .strict();
export type Submission = z.infer<typeof Submission>;

export interface FieldError {
  /** The question id, or `annotations.<context>.<tool>` for annotation rules. */
  field: string;
  message: string;
}

function sameValue(a: AnswerValue | undefined, b: string | number | boolean): boolean {
  if (a === undefined || a === null) return false;
  if (Array.isArray(a)) return a.includes(String(b));
  return String(a) === String(b);
}

/** Whether a showIf condition holds for the given answers (a hidden controlling question never does). */
export function conditionHolds(cond: ShowIf, answers: Record<string, AnswerValue>, visible: (id: string) => boolean): boolean {
  if (!visible(cond.question)) return false;
  const a = answers[cond.question];
  if (cond.equals !== undefined && !sameValue(a, cond.equals)) return false;
  if (cond.notEquals !== undefined && (a === undefined || a === null || sameValue(a, cond.notEquals))) return false;
  if (cond.oneOf !== undefined && !cond.oneOf.some((v) => sameValue(a, v))) return false;
  return true;
}

/** The ids of the questions shown for these answers (showIf applied in order). */
export function visibleQuestions(t: TaskTemplate, answers: Record<string, AnswerValue>): Set<string> {
  const shown = new Set<string>();
  for (const { question } of questionsOf(t)) {
    if (!question.showIf || conditionHolds(question.showIf, answers, (id) => shown.has(id))) shown.add(question.id);
  }
  return shown;
}

/** The template's default answers (for a new task). */
export function defaultAnswers(t: TaskTemplate): Record<string, AnswerValue> {
  const out: Record<string, AnswerValue> = {};
  for (const { question } of questionsOf(t)) if (question.default !== undefined) out[question.id] = question.default;
  return out;
}

const isEmpty = (v: AnswerValue | undefined) => v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0);

function checkAnswer(q: Question, v: AnswerValue): string | null {
  switch (q.type) {
    case "single":
      if (typeof v !== "string") return "choose one of the options";
      return q.options.some((o) => o.value === v) ? null : `"${v}" is not one of the options (${q.options.map((o) => o.value).join(", ")})`;
    case "multiple": {
      if (!Array.isArray(v)) return "choose any of the options (a list)";
      const bad = v.filter((x) => !q.options.some((o) => o.value === x));
      if (bad.length) return `"${bad[0]}" is not one of the options`;
      if (new Set(v).size !== v.length) return "an option is chosen twice";
      if (q.minSelected !== undefined && v.length < q.minSelected) return `choose at least ${q.minSelected}`;
      if (q.maxSelected !== undefined && v.length > q.maxSelected) return `choose at most ${q.maxSelected}`;
      return null;
    }
    case "number":
    case "integer": {
      if (typeof v !== "number" || !Number.isFinite(v)) return "enter a number";
      if (q.type === "integer" && !Number.isInteger(v)) return "enter a whole number";
      const unit = q.unit ? ` ${q.unit}` : "";
      if (q.min !== undefined && v < q.min) return `must be at least ${q.min}${unit}`;
      if (q.max !== undefined && v > q.max) return `must be at most ${q.max}${unit}`;
      return null;
    }
    case "text":
      if (typeof v !== "string") return "enter text";
      return v.length > q.maxLength ? `at most ${q.maxLength} characters (${v.length} given)` : null;
    case "boolean":
      return typeof v === "boolean" ? null : "answer yes or no";
    case "likert":
      if (typeof v !== "number" || !Number.isInteger(v)) return `choose a point from 1 to ${q.points}`;
      return v < 1 || v > q.points ? `choose a point from 1 to ${q.points}` : null;
    case "date": {
      if (typeof v !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`)) || new Date(`${v}T00:00:00Z`).toISOString().slice(0, 10) !== v) return "enter a date as YYYY-MM-DD";
      if (q.min && v < q.min) return `must be on or after ${q.min}`;
      if (q.max && v > q.max) return `must be on or before ${q.max}`;
      return null;
    }
  }
}

/**
 * Validates a submission against the template. `mode: "draft"` checks only what is given (types,
 * options, ranges) and unknown fields; `"submit"` also requires the visible required questions and
 * the annotation rules. Answers to hidden questions are dropped from `clean`.
 */
export function validateSubmission(t: TaskTemplate, s: Submission, mode: "draft" | "submit"): { errors: FieldError[]; clean: Submission } {
  const errors: FieldError[] = [];
  const all = new Map(questionsOf(t).map((x) => [x.question.id, x.question]));
  for (const id of Object.keys(s.answers)) if (!all.has(id)) errors.push({ field: id, message: `"${id}" is not a question of this template` });
  const visible = visibleQuestions(t, s.answers);
  const answers: Record<string, AnswerValue> = {};
  for (const [id, q] of all) {
    const v = s.answers[id];
    if (!visible.has(id)) continue;
    if (isEmpty(v)) {
      if (mode === "submit" && q.required) errors.push({ field: id, message: `"${q.label}" is required` });
      continue;
    }
    const problem = checkAnswer(q, v!);
    if (problem) errors.push({ field: id, message: `${q.label}: ${problem}` });
    answers[id] = v!;
  }
  const contexts = new Map(t.contexts.map((c) => [c.id, c]));
  s.annotations.forEach((a, i) => {
    const c = contexts.get(a.context);
    if (!c) errors.push({ field: `annotations.${i}`, message: `annotation ${a.id}: "${a.context}" is not a context of this template` });
    else if (!c.tools.some((tool) => toolId(tool) === a.tool)) errors.push({ field: `annotations.${i}`, message: `annotation ${a.id}: context "${c.id}" has no tool "${a.tool}"` });
  });
  if (mode === "submit") {
    for (const c of t.contexts) {
      for (const r of c.annotationRules) {
        if (r.showIf && !conditionHolds(r.showIf, s.answers, (id) => visible.has(id))) continue;
        const n = s.annotations.filter((a) => a.context === c.id && a.tool === r.tool && (r.label === undefined || a.label === r.label)).length;
        const what = `${r.label ? `"${r.label}" ` : ""}${r.tool} annotation`;
        if (n < r.min) errors.push({ field: `annotations.${c.id}.${r.tool}`, message: r.message ?? `${c.title}: at least ${r.min} ${what}${r.min === 1 ? "" : "s"} needed (${n} made)` });
        if (r.max !== undefined && n > r.max) errors.push({ field: `annotations.${c.id}.${r.tool}`, message: r.message ?? `${c.title}: at most ${r.max} ${what}${r.max === 1 ? "" : "s"} allowed (${n} made)` });
      }
    }
  }
  return { errors, clean: { ...s, answers } };
}
