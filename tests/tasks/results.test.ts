import { describe, expect, it } from "vitest";
import { parseTemplateOrThrow } from "@/lib/tasks/parse";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { agreementPerQuestion, dataDictionary, resultsCsv, type ResultRow } from "@/lib/tasks/results";
import { cohenKappa } from "@/lib/tasks/agreement";

const T = parseTemplateOrThrow(DEMO_QC_TEMPLATE);
const row = (n: number, answers: ResultRow["answers"]): ResultRow => ({ taskNumber: n, taskId: `t${n}`, kind: "read", caseKey: `c${n}`, experimentLabel: `E${n}`, subjectLabel: "S", readerIndex: 0, reader: "r@x", state: "done", version: 1, submittedAt: "2026-12-05T08:00:00.000Z", timeSpentSeconds: 12.5, answers, annotationCount: 0 });

describe("results", () => {
  it("CSV: one column per question, quoted where needed, multiple choices joined, formulas defused", () => {
    const csv = resultsCsv(T, [row(1, { usable: "no", reason: ["motion", "other"], comment: 'said "bad", twice' }), row(2, { usable: "yes", comment: "=HYPERLINK(1)" })]);
    const lines = csv.trimEnd().split("\r\n");
    expect(lines[0]).toBe("task,kind,case,subject,experiment,reader_index,reader,state,version,submitted_at,time_spent_s,annotations,usable,reason,quality,comment");
    expect(lines[1]).toBe('1,read,c1,S,E1,0,r@x,done,1,2026-12-05T08:00:00.000Z,12.5,0,no,motion;other,,"said ""bad"", twice"');
    expect(lines[2]!.endsWith(",yes,,,'=HYPERLINK(1)")).toBe(true);
    expect(dataDictionary(T).find((d) => d.column === "usable")).toMatchObject({ type: "single", values: ["yes", "borderline", "no"] });
  });

  it("agreement per question: Cohen's kappa for two reads per case equals the direct computation", () => {
    const a = ["yes", "yes", "no", "no", "yes", "borderline"];
    const b = ["yes", "no", "no", "no", "yes", "yes"];
    const cases = a.map((x, i) => [{ usable: x, quality: i + 1 }, { usable: b[i]!, quality: i + 1 + (i % 2) }]);
    const ag = agreementPerQuestion(T, cases);
    const usable = ag.find((q) => q.question === "usable")!;
    expect(usable.statistic).toBe("Cohen's kappa");
    expect(usable.estimate!.value).toBeCloseTo(cohenKappa(a, b)!.value, 10);
    expect(ag.find((q) => q.question === "quality")!.statistic).toBe("Cohen's kappa"); // Likert is ordinal categories here
  });
});
