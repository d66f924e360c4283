// A task group's results as tables: CSV and JSON with a data dictionary (one column per question),
// and agreement per question between the reads of each case (Fleiss' kappa for choices, with
// Cohen's when a group has exactly two reads per case; ICC(1,1) for numbers). Pure functions.
import { cohenKappa, fleissFromReads, icc, type Estimate } from "./agreement";
import type { AnswerValue } from "./answers";
import { questionsOf, type Question, type TaskTemplate } from "./template";

export interface ResultRow {
  taskNumber: number;
  taskId: string;
  kind: "read" | "adjudication";
  caseKey: string;
  experimentLabel: string | null;
  subjectLabel: string | null;
  readerIndex: number;
  reader: string | null;
  state: string;
  version: number | null;
  submittedAt: string | null;
  timeSpentSeconds: number;
  answers: Record<string, AnswerValue>;
  annotationCount: number;
}

const FIXED = ["task", "kind", "case", "subject", "experiment", "reader_index", "reader", "state", "version", "submitted_at", "time_spent_s", "annotations"] as const;

/** The data dictionary: one entry per column of the export. */
export function dataDictionary(t: TaskTemplate): { column: string; type: string; description: string; values?: string[]; unit?: string }[] {
  const fixed: Record<(typeof FIXED)[number], [string, string]> = {
    task: ["integer", "task number"],
    kind: ["text", "read or adjudication"],
    case: ["text", "case key (the experiment's id)"],
    subject: ["text", "subject label (pseudonymous)"],
    experiment: ["text", "experiment label (pseudonymous)"],
    reader_index: ["integer", "which read of the case (0-based)"],
    reader: ["text", "the reader's e-mail"],
    state: ["text", "queued, locked, submitted, done, skipped, aborted or cannot_be_done"],
    version: ["integer", "result version (a resubmission adds one)"],
    submitted_at: ["datetime", "when the result was submitted (UTC, ISO 8601)"],
    time_spent_s: ["number", "seconds the reader spent on the task"],
    annotations: ["integer", "number of annotations"],
  };
  return [
    ...FIXED.map((c) => ({ column: c, type: fixed[c][0], description: fixed[c][1] })),
    ...questionsOf(t).map(({ question: q, context }) => ({
      column: q.id,
      type: q.type,
      description: `${q.label} (${context})${q.help ? ` — ${q.help}` : ""}`,
      ...(q.type === "single" || q.type === "multiple" ? { values: q.options.map((o) => o.value) } : {}),
      ...((q.type === "number" || q.type === "integer") && q.unit ? { unit: q.unit } : {}),
    })),
  ];
}

/** One CSV cell (RFC 4180 quoting; lists joined by ;; a formula-like text kept as text). */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = Array.isArray(v) ? v.join(";") : String(v);
  // Formula injection: a cell starting with = + - @ is read as text by spreadsheets.
  const safe = /^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** The results as CSV (RFC 4180, one row per task, one column per question; multiple choices joined by ;). */
export function resultsCsv(t: TaskTemplate, rows: readonly ResultRow[]): string {
  const qs = questionsOf(t).map((x) => x.question.id);
  const lines = [[...FIXED, ...qs].join(",")];
  for (const r of rows) {
    lines.push(
      [r.taskNumber, r.kind, r.caseKey, r.subjectLabel, r.experimentLabel, r.readerIndex, r.reader, r.state, r.version, r.submittedAt, r.timeSpentSeconds, r.annotationCount, ...qs.map((q) => r.answers[q])]
        .map(csvCell)
        .join(","),
    );
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** The results as JSON: the template's title, the data dictionary and the rows. */
export function resultsJson(t: TaskTemplate, group: { id: string; label: string; templateVersion: number }, rows: readonly ResultRow[]) {
  return { group: { ...group, template: t.title }, dictionary: dataDictionary(t), results: rows };
}

export interface QuestionAgreement {
  question: string;
  label: string;
  type: Question["type"];
  statistic: "Fleiss' kappa" | "Cohen's kappa" | "ICC(1,1)";
  estimate: Estimate | null;
}

const categorical = new Set<Question["type"]>(["single", "multiple", "boolean", "likert"]);

/** Agreement per question over the cases' reads (each inner array: the answers of one case's reads). */
export function agreementPerQuestion(t: TaskTemplate, cases: readonly (readonly Record<string, AnswerValue>[])[]): QuestionAgreement[] {
  const out: QuestionAgreement[] = [];
  const two = cases.length > 0 && cases.every((c) => c.length === 2);
  for (const { question: q } of questionsOf(t)) {
    if (categorical.has(q.type)) {
      const norm = (v: AnswerValue | undefined) => (v === undefined || v === null || v === "" ? null : Array.isArray(v) ? [...v].sort().join(";") : String(v));
      const reads = cases.map((c) => c.map((a) => norm(a[q.id])));
      out.push(two ? { question: q.id, label: q.label, type: q.type, statistic: "Cohen's kappa", estimate: cohenKappa(reads.map((r) => r[0]!), reads.map((r) => r[1]!)) } : { question: q.id, label: q.label, type: q.type, statistic: "Fleiss' kappa", estimate: fleissFromReads(reads) });
    } else if (q.type === "number" || q.type === "integer") {
      const k = Math.max(0, ...cases.map((c) => c.length));
      const table = cases.filter((c) => c.length === k).map((c) => c.map((a) => (typeof a[q.id] === "number" ? (a[q.id] as number) : null)));
      out.push({ question: q.id, label: q.label, type: q.type, statistic: "ICC(1,1)", estimate: k >= 2 ? icc(table, "ICC(1,1)") : null });
    }
  }
  return out;
}
