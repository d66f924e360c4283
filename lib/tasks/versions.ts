// The differences between two result versions of a task (what a reviewer reads in the History):
// answers changed per question (with the question's label and context), annotations added,
// removed or changed (moved points, a new label, other values), matched by their id.
import type { Annotation } from "./answers";
import type { TaskTemplate } from "./template";

export interface AnswerChange {
  question: string;
  label: string;
  context: string;
  before: unknown;
  after: unknown;
}

export interface AnnotationChange {
  id: string;
  context: string;
  tool: string;
  label?: string;
  change: "added" | "removed" | "changed";
  /** For "changed": what differs (points moved by up to N mm, label, values). */
  detail?: string;
}

export interface VersionDiff {
  answers: AnswerChange[];
  annotations: AnnotationChange[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The largest distance (mm) a point moved, or null when the point counts differ. */
function moved(a: readonly number[][], b: readonly number[][]): number | null {
  if (a.length !== b.length) return null;
  let max = 0;
  a.forEach((p, i) => (max = Math.max(max, Math.hypot(p[0]! - b[i]![0]!, p[1]! - b[i]![1]!, p[2]! - b[i]![2]!))));
  return max;
}

/** What changed from `before` (null: the first version) to `after`. */
export function diffVersions(
  template: TaskTemplate | null,
  before: { answers: Record<string, unknown>; annotations: readonly Annotation[] } | null,
  after: { answers: Record<string, unknown>; annotations: readonly Annotation[] },
): VersionDiff {
  const questions = new Map<string, { label: string; context: string }>();
  for (const c of template?.contexts ?? []) for (const q of c.form) questions.set(q.id, { label: q.label, context: c.title });
  const prev = before?.answers ?? {};
  const ids = [...new Set([...questions.keys(), ...Object.keys(prev), ...Object.keys(after.answers)])];
  const answers: AnswerChange[] = [];
  for (const id of ids) {
    if (same(prev[id], after.answers[id])) continue;
    const q = questions.get(id);
    answers.push({ question: id, label: q?.label ?? id, context: q?.context ?? "", before: prev[id] ?? null, after: after.answers[id] ?? null });
  }

  const old = new Map((before?.annotations ?? []).map((a) => [a.id, a]));
  const annotations: AnnotationChange[] = [];
  const base = (a: Annotation) => ({ id: a.id, context: a.context, tool: a.tool, ...(a.label ? { label: a.label } : {}) });
  for (const a of after.annotations) {
    const o = old.get(a.id);
    old.delete(a.id);
    if (!o) {
      annotations.push({ ...base(a), change: "added" });
      continue;
    }
    const parts: string[] = [];
    const d = moved(o.points, a.points);
    if (d === null) parts.push(`${o.points.length} → ${a.points.length} points`);
    else if (d > 0.01) parts.push(`moved up to ${d.toFixed(1)} mm`);
    if ((o.label ?? "") !== (a.label ?? "")) parts.push(`label ${o.label ? `“${o.label}”` : "none"} → ${a.label ? `“${a.label}”` : "none"}`);
    if (parts.length === 0 && !same(o.data, a.data)) parts.push("values changed");
    if (parts.length) annotations.push({ ...base(a), change: "changed", detail: parts.join("; ") });
  }
  for (const o of old.values()) annotations.push({ ...base(o), change: "removed" });
  return { answers, annotations };
}
