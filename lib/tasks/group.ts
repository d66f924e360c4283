// Task groups (read campaigns): their settings, how reads of one case are compared (the
// disagreement rule), and how tasks are distributed over a pool of readers by load and weight
// (as BIGR's TaskManager distribute_task did: weight 0 = never assigned).
import { z } from "zod";
import type { Annotation, AnswerValue } from "./answers";
import type { TaskTemplate } from "./template";
import { questionsOf } from "./template";

export const DistributionMode = z.enum(["pool", "balanced", "same", "unique"]);
export type DistributionMode = z.infer<typeof DistributionMode>;
/**
 * - pool: nobody is assigned; readers of the pool take the next task with "start next".
 * - balanced: each read is assigned at creation to the pool reader with the least weighted load.
 * - same: every task of the group to one reader (the least loaded).
 * - unique: each case's reads to different readers, every task to a different reader (error if too few).
 */

export const DisagreementRule = z
  .object({
    /** Choices (single, multiple, boolean, Likert) disagree when they differ. */
    choices: z.boolean().default(true),
    /** Numbers disagree when they differ by more than this (absolute); per question overrides. */
    numberTolerance: z.number().min(0).default(0),
    perQuestionTolerance: z.record(z.string(), z.number().min(0)).default({}),
    /** Annotations (points) disagree when a point of one read has no point of the other within this many mm. */
    pointDistanceMm: z.number().min(0).default(5),
    /** Free text is never compared unless listed here. */
    compareText: z.array(z.string()).default([]),
  })
  .strict();
export type DisagreementRule = z.infer<typeof DisagreementRule>;

export const PoolEntry = z.object({ userId: z.string().min(1), weight: z.number().min(0).max(100).default(1) }).strict();
export type PoolEntry = z.infer<typeof PoolEntry>;

export interface Read {
  readerId: string;
  answers: Record<string, AnswerValue>;
  annotations: Annotation[];
}

export interface Disagreement {
  field: string;
  reason: string;
}

function norm(v: AnswerValue | undefined): string {
  if (v === undefined || v === null || v === "") return "∅";
  if (Array.isArray(v)) return JSON.stringify([...v].sort());
  return String(v);
}

/** Where reads of one case disagree by the group's rule (empty: they agree). */
export function findDisagreements(t: TaskTemplate, rule: DisagreementRule, reads: Read[]): Disagreement[] {
  if (reads.length < 2) return [];
  const out: Disagreement[] = [];
  for (const { question: q } of questionsOf(t)) {
    const values = reads.map((r) => r.answers[q.id]);
    if (q.type === "number" || q.type === "integer") {
      const nums = values.filter((v): v is number => typeof v === "number");
      const missing = values.length - nums.length;
      const tol = rule.perQuestionTolerance[q.id] ?? rule.numberTolerance;
      if (missing > 0 && nums.length > 0) out.push({ field: q.id, reason: `answered by ${nums.length} of ${values.length} readers` });
      else if (nums.length > 1 && Math.max(...nums) - Math.min(...nums) > tol) out.push({ field: q.id, reason: `values ${nums.join(", ")} differ by more than ${tol}` });
    } else if (q.type === "text") {
      if (rule.compareText.includes(q.id) && new Set(values.map((v) => norm(v).trim().toLowerCase())).size > 1) out.push({ field: q.id, reason: "texts differ" });
    } else {
      if (!rule.choices) continue;
      const distinct = new Set(values.map(norm));
      if (distinct.size > 1) out.push({ field: q.id, reason: `answers differ (${[...distinct].join(" / ")})` });
    }
  }
  // Annotations: per context, tool and label, every point of each read needs a partner in each other read.
  const keys = new Set(reads.flatMap((r) => r.annotations.map((a) => `${a.context}|${a.tool}|${a.label ?? ""}`)));
  for (const key of keys) {
    const sets = reads.map((r) => r.annotations.filter((a) => `${a.context}|${a.tool}|${a.label ?? ""}` === key).flatMap((a) => a.points));
    const [context, tool, label] = key.split("|");
    const field = `annotations.${context}.${tool}${label ? `.${label}` : ""}`;
    if (new Set(sets.map((s) => s.length)).size > 1) {
      out.push({ field, reason: `readers marked ${sets.map((s) => s.length).join(", ")} points` });
      continue;
    }
    outer: for (let i = 0; i < sets.length; i++) {
      for (let j = 0; j < sets.length; j++) {
        if (i === j) continue;
        for (const p of sets[i]!) {
          const nearest = Math.min(...sets[j]!.map((q) => Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2])));
          if (nearest > rule.pointDistanceMm) {
            out.push({ field, reason: `a point is ${nearest.toFixed(1)} mm from the nearest point of another read (more than ${rule.pointDistanceMm} mm)` });
            break outer;
          }
        }
      }
    }
  }
  return out;
}

/**
 * The reader to assign next, by weighted load (TaskManager's distribute_task): every recent task
 * adds (1 / its number of assignees) / weight to each assignee's load; the lowest load wins, ties
 * by the order of the pool. Readers with weight 0 and those in `exclude` are never picked.
 */
export function pickReader(pool: PoolEntry[], recent: { assignees: string[] }[], exclude: ReadonlySet<string> = new Set()): string | null {
  const candidates = pool.filter((p) => p.weight > 0 && !exclude.has(p.userId));
  if (candidates.length === 0) return null;
  const load = new Map(candidates.map((c) => [c.userId, 0]));
  const weight = new Map(candidates.map((c) => [c.userId, c.weight]));
  for (const t of recent) {
    for (const a of t.assignees) if (load.has(a)) load.set(a, load.get(a)! + 1 / t.assignees.length / weight.get(a)!);
  }
  let best = candidates[0]!.userId;
  for (const c of candidates) if (load.get(c.userId)! < load.get(best)!) best = c.userId;
  return best;
}

/**
 * Assigns the reads of each case (readersPerCase each) for the modes that assign at creation.
 * Returns one reader list per case (index = reader index). `unique` needs enough readers for every
 * task to go to a different reader; the others need readersPerCase eligible readers.
 */
export function planAssignments(mode: Exclude<DistributionMode, "pool">, caseCount: number, readersPerCase: number, pool: PoolEntry[], history: { assignees: string[] }[] = []): string[][] {
  const eligible = pool.filter((p) => p.weight > 0);
  if (eligible.length < readersPerCase) throw new Error(`${readersPerCase} reads per case need at least ${readersPerCase} readers with a weight above 0 in the pool (${eligible.length} there).`);
  if (mode === "unique") {
    if (eligible.length < caseCount * readersPerCase) throw new Error(`"unique" gives every task to a different reader: ${caseCount * readersPerCase} tasks need as many readers (${eligible.length} in the pool).`);
    return Array.from({ length: caseCount }, (_, i) => eligible.slice(i * readersPerCase, (i + 1) * readersPerCase).map((p) => p.userId));
  }
  const recent = [...history];
  if (mode === "same") {
    const chosen: string[] = [];
    for (let r = 0; r < readersPerCase; r++) chosen.push(pickReader(eligible, recent, new Set(chosen))!);
    return Array.from({ length: caseCount }, () => [...chosen]);
  }
  const out: string[][] = [];
  for (let i = 0; i < caseCount; i++) {
    const readers: string[] = [];
    for (let r = 0; r < readersPerCase; r++) {
      const who = pickReader(eligible, recent, new Set(readers))!;
      readers.push(who);
      recent.push({ assignees: [who] });
    }
    out.push(readers);
  }
  return out;
}
