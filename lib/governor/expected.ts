// Expected versus received (issue #16): a project declares its protocol — the visits each subject
// has and the scans expected in each, by pattern — and Atrium reconciles what arrived: per subject
// and visit, complete, incomplete (which scans are missing), pending or late (not arrived within
// the days the protocol allows after the subject's first visit), and what was not expected.
// `experiment.complete`, `experiment.visit` and `experiment.missing` are facts workflow conditions
// can use instead of guessing with idle timers. Pure: server/governor/expected.ts reads the rows.
import { LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import { z } from "zod";
import { checkPattern, compilePattern } from "@/lib/regex";

const label = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, "use letters, digits, _ . and - only");
const pattern = z
  .string()
  .min(1)
  .max(300)
  .superRefine((p, ctx) => {
    const why = checkPattern(p, "i");
    if (why) ctx.addIssue({ code: "custom", message: `the pattern cannot be used: ${why}` });
  });

export const expectedScanSchema = z
  .object({
    label,
    /** e.g. MR; compared without regard to case */
    modality: z.string().min(1).max(16).optional(),
    /** a pattern (RE2, case-insensitive) the series description must contain */
    seriesDescription: pattern.optional(),
    /** how many matching series at least */
    minSeries: z.number().int().min(1).max(100).default(1),
    /** a series with fewer instances does not count (a scout, an aborted run) */
    minInstances: z.number().int().min(1).max(100_000).default(1),
    /** reported when missing, but the visit can be complete without it */
    optional: z.boolean().default(false),
  })
  .strict();

export const expectedVisitSchema = z
  .object({
    label,
    /** recognises the visit's study by its description (RE2, case-insensitive); without it, visits are taken in arrival order */
    studyDescription: pattern.optional(),
    /** late when not received this many days after the subject's first visit arrived */
    withinDays: z.number().int().min(0).max(3650).optional(),
    scans: z.array(expectedScanSchema).min(1).max(100),
  })
  .strict();

export const expectedProtocolSchema = z
  .object({
    visits: z.array(expectedVisitSchema).min(1).max(100),
  })
  .strict()
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.visits.forEach((v, i) => {
      if (seen.has(v.label)) ctx.addIssue({ code: "custom", message: `visit '${v.label}' is declared twice`, path: ["visits", i, "label"] });
      seen.add(v.label);
      const scans = new Set<string>();
      v.scans.forEach((s, j) => {
        if (scans.has(s.label)) ctx.addIssue({ code: "custom", message: `scan '${s.label}' is declared twice in visit '${v.label}'`, path: ["visits", i, "scans", j, "label"] });
        scans.add(s.label);
      });
    });
  });
export type ExpectedProtocol = z.infer<typeof expectedProtocolSchema>;

export class ExpectedProtocolError extends Error {
  constructor(readonly problems: { line: number | null; message: string }[]) {
    super(`the protocol cannot be saved:\n${problems.map((p) => `  ${p.line ? `line ${p.line}: ` : ""}${p.message}`).join("\n")}`);
    this.name = "ExpectedProtocolError";
  }
}

/** Parses a protocol (YAML or JSON); problems come with their line. */
export function parseExpectedProtocol(text: string): ExpectedProtocol {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) throw new ExpectedProtocolError(doc.errors.map((e) => ({ line: lc.linePos(e.pos[0]).line, message: e.message.split("\n")[0]! })));
  const r = expectedProtocolSchema.safeParse(doc.toJS());
  if (r.success) return r.data;
  throw new ExpectedProtocolError(
    r.error.issues.map((iss) => {
      const path = iss.path.filter((p): p is string | number => typeof p !== "symbol");
      // An unknown key is shown at its own line, not at its mapping's.
      const at = iss.code === "unrecognized_keys" && iss.keys[0] ? [...path, iss.keys[0]] : path;
      let node: YamlNode | null = null;
      for (let i = at.length; i >= 0 && !node; i--) {
        const n = doc.getIn(at.slice(0, i), true) as YamlNode | undefined;
        if (n && typeof n === "object" && "range" in n) node = n;
      }
      return { line: node?.range ? lc.linePos(node.range[0]).line : null, message: `${path.join(".") || "(file)"}: ${iss.message}` };
    }),
  );
}

export interface ReceivedScan {
  modality: string | null;
  seriesDescription: string | null;
  instanceCount: number;
}

export interface ReceivedExperiment {
  id: string;
  label: string;
  studyDescription: string | null;
  /** when it arrived in Atrium (dates in the data may be shifted by de-identification) */
  receivedAt: Date;
  scans: ReceivedScan[];
}

export type VisitStatus = "complete" | "incomplete" | "pending" | "late";

export interface VisitReconciliation {
  visit: string;
  status: VisitStatus;
  experimentId: string | null;
  experiment: string | null;
  /** expected scans not received (required ones) */
  missing: string[];
  /** optional scans not received */
  missingOptional: string[];
  /** received series that no expected scan of the visit matched (modality and description) */
  unexpected: string[];
  /** for visits not received: when they are due (first visit's arrival + withinDays) */
  dueAt: string | null;
}

export interface SubjectReconciliation {
  subject: string;
  visits: VisitReconciliation[];
  /** experiments no visit of the protocol matched */
  unexpectedExperiments: string[];
}

function scanMatches(e: ReturnType<typeof compiled>["visits"][number]["scans"][number], s: ReceivedScan): boolean {
  if (e.modality && (s.modality ?? "").toUpperCase() !== e.modality.toUpperCase()) return false;
  if (e.description && !e.description.test(s.seriesDescription ?? "")) return false;
  return true;
}

function compiled(p: ExpectedProtocol) {
  return {
    visits: p.visits.map((v) => ({
      ...v,
      study: v.studyDescription ? compilePattern(v.studyDescription, "i") : null,
      scans: v.scans.map((s) => ({ ...s, description: s.seriesDescription ? compilePattern(s.seriesDescription, "i") : null })),
    })),
  };
}

const DAY = 86_400_000;

/** Reconciles one subject's experiments with the protocol. */
export function reconcileSubject(protocol: ExpectedProtocol, subject: string, experiments: readonly ReceivedExperiment[], now: Date): SubjectReconciliation {
  const p = compiled(protocol);
  const ordered = [...experiments].sort((a, b) => a.receivedAt.getTime() - b.receivedAt.getTime() || a.label.localeCompare(b.label));
  const assigned = new Map<number, ReceivedExperiment>();
  const unexpectedExperiments: string[] = [];
  for (const e of ordered) {
    // A visit recognised by its study description first; else the next visit without a pattern.
    let idx = p.visits.findIndex((v, i) => !assigned.has(i) && v.study !== null && v.study.test(e.studyDescription ?? ""));
    if (idx < 0) idx = p.visits.findIndex((v, i) => !assigned.has(i) && v.study === null);
    if (idx < 0) unexpectedExperiments.push(e.label);
    else assigned.set(idx, e);
  }
  const first = ordered[0]?.receivedAt ?? null;
  const visits = p.visits.map((v, i): VisitReconciliation => {
    const e = assigned.get(i);
    if (!e) {
      const dueAt = first && v.withinDays !== undefined ? new Date(first.getTime() + v.withinDays * DAY) : null;
      return {
        visit: v.label,
        status: dueAt && dueAt.getTime() < now.getTime() ? "late" : "pending",
        experimentId: null,
        experiment: null,
        missing: v.scans.filter((s) => !s.optional).map((s) => s.label),
        missingOptional: v.scans.filter((s) => s.optional).map((s) => s.label),
        unexpected: [],
        dueAt: dueAt?.toISOString() ?? null,
      };
    }
    const counted = e.scans.filter((s) => s.instanceCount > 0);
    const missing: string[] = [];
    const missingOptional: string[] = [];
    for (const s of v.scans) {
      const n = counted.filter((r) => r.instanceCount >= s.minInstances && scanMatches(s, r)).length;
      if (n < s.minSeries) (s.optional ? missingOptional : missing).push(s.label);
    }
    const unexpected = counted.filter((r) => !v.scans.some((s) => scanMatches(s, r))).map((r) => `${r.modality ?? "?"} ${r.seriesDescription ?? "(no description)"}`);
    return { visit: v.label, status: missing.length ? "incomplete" : "complete", experimentId: e.id, experiment: e.label, missing, missingOptional, unexpected, dueAt: null };
  });
  return { subject, visits, unexpectedExperiments };
}

/** Counts per visit and status, for the summary line of the Completeness view. */
export function completenessSummary(subjects: readonly SubjectReconciliation[]) {
  const byVisit = new Map<string, Record<VisitStatus, number>>();
  for (const s of subjects)
    for (const v of s.visits) {
      const c = byVisit.get(v.visit) ?? { complete: 0, incomplete: 0, pending: 0, late: 0 };
      c[v.status]++;
      byVisit.set(v.visit, c);
    }
  return {
    subjects: subjects.length,
    visits: [...byVisit.entries()].map(([visit, counts]) => ({ visit, ...counts })),
    unexpectedExperiments: subjects.reduce((n, s) => n + s.unexpectedExperiments.length, 0),
  };
}

/** The facts a workflow condition reads about one experiment (false / null when no protocol or no visit). */
export function experimentCompleteness(r: SubjectReconciliation | null, experimentId: string): { complete: boolean; visit: string | null; missing: string[] } {
  const v = r?.visits.find((x) => x.experimentId === experimentId);
  return v ? { complete: v.status === "complete", visit: v.visit, missing: v.missing } : { complete: false, visit: null, missing: [] };
}
