// The study export (issue #16): per subject and visit (an archived experiment), its workflow state
// and variables, the values its pipelines stored and the answers of its tasks, in one table — CSV,
// and JSON with a data dictionary. Pure: server/governor/export.ts reads the rows.
import { csvCell } from "@/lib/tasks/results";
import { questionsOf, type TaskTemplate } from "@/lib/tasks/template";

export interface VisitFacts {
  subject: string;
  experiment: string;
  studyDate: string | null;
  modalities: string[];
  workflow: string | null;
  state: string | null;
  stateSince: string | null;
  variables: Record<string, unknown>;
  /** pipeline values by name (the experiment's own, then its subject's; the newest of each name) */
  values: Record<string, { value: unknown; pipeline: string | null; level: "experiment" | "subject" | "scan" }>;
  /** task answers by template name: the final answers of each question */
  answers: Record<string, { template: TaskTemplate | null; reads: Record<string, unknown>[]; adjudicated: Record<string, unknown> | null }>;
}

export interface DictionaryEntry {
  column: string;
  type: string;
  description: string;
  values?: string[];
  unit?: string;
}

const FIXED: DictionaryEntry[] = [
  { column: "subject", type: "text", description: "subject label (pseudonymous)" },
  { column: "experiment", type: "text", description: "experiment (visit) label (pseudonymous)" },
  { column: "study_date", type: "date", description: "study date as archived (YYYYMMDD; shifted when the project's de-identification shifts dates)" },
  { column: "modalities", type: "text", description: "modalities of the experiment's scans, joined by ;" },
  { column: "workflow", type: "text", description: "the workflow and version the experiment follows" },
  { column: "state", type: "text", description: "the experiment's workflow state" },
  { column: "state_since", type: "datetime", description: "when it entered that state (UTC, ISO 8601)" },
];

function typeOf(vals: unknown[]): string {
  const present = vals.filter((v) => v !== null && v !== undefined);
  if (!present.length) return "text";
  if (present.every((v) => typeof v === "boolean")) return "boolean";
  if (present.every((v) => typeof v === "number")) return present.every((v) => Number.isInteger(v)) ? "integer" : "number";
  if (present.every((v) => typeof v === "string")) return "text";
  return "json";
}

/**
 * A question's final answer for one visit: the adjudication's when there is one; else the read's;
 * reads that agree give their common value; reads that differ give the list of their answers.
 */
export function finalAnswer(a: VisitFacts["answers"][string], question: string): unknown {
  if (a.adjudicated && question in a.adjudicated) return a.adjudicated[question];
  const given = a.reads.map((r) => r[question]).filter((v) => v !== undefined);
  if (!given.length) return null;
  const distinct = [...new Map(given.map((v) => [JSON.stringify(v), v])).values()];
  return distinct.length === 1 ? distinct[0] : distinct.map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
}

export interface StudyTable {
  dictionary: DictionaryEntry[];
  rows: Record<string, unknown>[];
}

/** The table: fixed columns, then `var.<name>`, `value.<name>` and `task.<template>.<question>`, each sorted. */
export function studyTable(visits: readonly VisitFacts[]): StudyTable {
  const varNames = [...new Set(visits.flatMap((v) => Object.keys(v.variables)))].sort();
  const valueNames = [...new Set(visits.flatMap((v) => Object.keys(v.values)))].sort();
  const templates = new Map<string, TaskTemplate | null>();
  const freeQuestions = new Map<string, Set<string>>();
  for (const v of visits)
    for (const [name, a] of Object.entries(v.answers)) {
      if (!templates.get(name)) templates.set(name, a.template);
      const qs = freeQuestions.get(name) ?? new Set<string>();
      for (const r of [...a.reads, ...(a.adjudicated ? [a.adjudicated] : [])]) for (const q of Object.keys(r)) qs.add(q);
      freeQuestions.set(name, qs);
    }
  const taskColumns: (DictionaryEntry & { template: string; question: string })[] = [];
  for (const name of [...templates.keys()].sort()) {
    const t = templates.get(name) ?? null;
    if (t) {
      for (const { question: q, context } of questionsOf(t))
        taskColumns.push({
          template: name,
          question: q.id,
          column: `task.${name}.${q.id}`,
          type: q.type,
          description: `${q.label} (task template '${name}', ${context}); the adjudicated answer when reads were adjudicated, the common answer of agreeing reads, else every read's answer joined by ;`,
          ...(q.type === "single" || q.type === "multiple" ? { values: q.options.map((o) => o.value) } : {}),
          ...((q.type === "number" || q.type === "integer") && q.unit ? { unit: q.unit } : {}),
        });
    } else {
      for (const q of [...(freeQuestions.get(name) ?? [])].sort())
        taskColumns.push({ template: name, question: q, column: `task.${name}.${q}`, type: "json", description: `answer '${q}' of the task template '${name}' (a ViewR template: no questions declared)` });
    }
  }
  const pipelinesOf = (name: string) => [...new Set(visits.map((v) => v.values[name]?.pipeline).filter((p): p is string => Boolean(p)))].sort();
  const dictionary: DictionaryEntry[] = [
    ...FIXED,
    ...varNames.map((n) => ({ column: `var.${n}`, type: typeOf(visits.map((v) => v.variables[n])), description: `workflow variable '${n}' (set by a callback's variable_map or through the API)` })),
    ...valueNames.map((n) => {
      const levels = [...new Set(visits.map((v) => v.values[n]?.level).filter(Boolean))].join(" or ");
      const from = pipelinesOf(n);
      return { column: `value.${n}`, type: typeOf(visits.map((v) => v.values[n]?.value)), description: `pipeline value '${n}' stored on the ${levels}${from.length ? ` by ${from.join(", ")}` : ""}` };
    }),
    ...taskColumns.map(({ template: _t, question: _q, ...d }) => d),
  ];
  const rows = visits.map((v) => {
    const row: Record<string, unknown> = {
      subject: v.subject,
      experiment: v.experiment,
      study_date: v.studyDate,
      modalities: v.modalities,
      workflow: v.workflow,
      state: v.state,
      state_since: v.stateSince,
    };
    for (const n of varNames) row[`var.${n}`] = v.variables[n] ?? null;
    for (const n of valueNames) row[`value.${n}`] = v.values[n]?.value ?? null;
    for (const c of taskColumns) row[c.column] = v.answers[c.template] ? finalAnswer(v.answers[c.template]!, c.question) : null;
    return row;
  });
  return { dictionary, rows };
}

/** RFC 4180 CSV, one row per visit; objects as JSON, lists joined by ;. */
export function studyCsv(t: StudyTable): string {
  const cols = t.dictionary.map((d) => d.column);
  const lines = [cols.map(csvCell).join(",")];
  for (const r of t.rows) lines.push(cols.map((c) => { const v = r[c]; return csvCell(v !== null && typeof v === "object" && !Array.isArray(v) ? JSON.stringify(v) : v); }).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
