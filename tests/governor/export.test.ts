// Issue #16 "Study export: per subject and visit, the variables, pipeline values and task answers in
// one table (CSV and JSON with a data dictionary), refreshed as results arrive" — on real
// PostgreSQL: visits of two subjects, workflow state and variables, pipeline values stored on the
// experiment, its subject and a scan, and task results (agreeing reads, disagreeing reads, an
// adjudication, a ViewR template without declared questions).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { importWorkflowYaml } from "@/lib/governor";
import { finalAnswer, studyCsv, studyTable } from "@/lib/governor/export";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { parseTemplateOrThrow } from "@/lib/tasks/parse";
import { studyExport, studyExportTable } from "@/server/governor/export";
import { installWorkflow } from "@/server/governor/engine";

const P = "EXPORTS";
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const ids: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Export" } });
  const s1 = await db.prisma.archiveSubject.create({ data: { projectId: P, label: "SUBJ01" } });
  const s2 = await db.prisma.archiveSubject.create({ data: { projectId: P, label: "SUBJ02" } });
  const mk = (label: string, subjectId: string, studyDate: string, modalities: string[]) =>
    db.prisma.archiveExperiment.create({ data: { projectId: P, subjectId, label, studyInstanceUid: `2.25.9${label.length}${studyDate}`, studyDate, modalities, scans: { create: [{ seriesInstanceUid: `1.2.${label}`, modality: modalities[0]!, instanceCount: 1 }] } }, include: { scans: true } });
  const v1 = await mk("SUBJ01_V1", s1.id, "20260101", ["MR"]);
  const v2 = await mk("SUBJ01_V2", s1.id, "20260301", ["MR", "SR"]);
  const w1 = await mk("SUBJ02_V1", s2.id, "20260115", ["CT"]);
  Object.assign(ids, { v1: v1.id, v2: v2.id, w1: w1.id, s1: s1.id, scanW1: w1.scans[0]!.id });

  // Workflow state and variables on v1 and w1 (v2 is in no workflow).
  const wf = await installWorkflow(db.prisma, P, importWorkflowYaml("label: f\nstates:\n  - {label: received, transitions: [{destination: done}]}\n  - {label: done}\n"), null);
  for (const [exp, state, vars] of [[v1, "done", { score: 7, ok: true }], [w1, "received", { score: 4.5, note: "=cmd|' /C calc'!A0" }]] as const) {
    await db.prisma.governorExperiment.create({
      data: { projectId: P, experimentId: exp.id, workflowId: wf.id, state, stateSince: new Date("2026-12-01T10:00:00Z"), variables: { create: Object.entries(vars).map(([label, value]) => ({ label, value })) } },
    });
  }

  // Pipeline values: on the experiment (by a run), on the subject (both its visits get it), on a scan.
  const pipe = await db.prisma.pipeline.create({ data: { scope: P, projectId: P, pipelineId: "brain-volume", version: "1.2", definition: {}, sourceText: "x", toolVersions: {} } });
  const run = await db.prisma.pipelineRun.create({ data: { projectId: P, pipelineRowId: pipe.id, pipelineId: "brain-volume", pipelineVersion: "1.2", experimentIds: [v1.id], startedBy: "cli", executor: "local", workDir: "/tmp/x" } });
  await db.prisma.archiveValue.create({ data: { projectId: P, subjectId: s1.id, experimentId: v1.id, name: "brain_volume_ml", value: 1210.5, runId: run.id } });
  await db.prisma.archiveValue.create({ data: { projectId: P, subjectId: s1.id, name: "handedness", value: "right" } });
  await db.prisma.archiveValue.create({ data: { projectId: P, subjectId: s2.id, experimentId: w1.id, scanId: w1.scans[0]!.id, name: "slice_count", value: 120 } });

  // Tasks: v1 read twice, agreeing on usable but not on quality, then adjudicated on quality;
  // w1 read twice, disagreeing and not adjudicated; v2's read not done (not exported).
  const tpl = await db.prisma.taskTemplate.create({ data: { projectId: P, name: "scan-qc", versions: { create: { version: 1, source: DEMO_QC_TEMPLATE, definition: parseTemplateOrThrow(DEMO_QC_TEMPLATE) as never } } }, include: { versions: true } });
  const viewr = await db.prisma.taskTemplate.create({ data: { projectId: P, name: "legacy-viewr", versions: { create: { version: 1, source: "{}", format: "viewr", definition: { layout: "opaque" } } } }, include: { versions: true } });
  let n = 0;
  const task = async (exp: { id: string }, kind: "read" | "adjudication", state: "done" | "locked", answers: Record<string, unknown>, templateVersionId = tpl.versions[0]!.id) =>
    db.prisma.task.create({ data: { projectId: P, templateVersionId, kind, caseKey: `${exp.id}-${++n}`, experimentId: exp.id, readerIndex: n, state, results: state === "done" ? { create: [{ version: 1, answers: { stale: true }, annotations: [] }, { version: 2, answers: answers as never, annotations: [] }] } : undefined } });
  await task(v1, "read", "done", { usable: "yes", quality: 4 });
  await task(v1, "read", "done", { usable: "yes", quality: 2 });
  await task(v1, "adjudication", "done", { quality: 3 });
  await task(w1, "read", "done", { usable: "no", reason: ["motion"], quality: 1 });
  await task(w1, "read", "done", { usable: "borderline", reason: ["motion", "artefact"], quality: 1 });
  await task(v2, "read", "locked", { usable: "no" });
  await task(w1, "read", "done", { flag: "seen" }, viewr.versions[0]!.id);
});
afterAll(async () => {
  await db?.drop();
});

describe("the study export", () => {
  it("has a row per visit with state, variables, pipeline values and final task answers, and a dictionary for every column", async () => {
    const t = await studyExportTable(db.prisma, P);
    expect(t.rows.map((r) => r.experiment)).toEqual(["SUBJ01_V1", "SUBJ01_V2", "SUBJ02_V1"]);
    const [v1, v2, w1] = t.rows as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    expect(v1).toMatchObject({ subject: "SUBJ01", study_date: "20260101", workflow: "f v1", state: "done", state_since: "2026-12-01T10:00:00.000Z", "var.score": 7, "var.ok": true });
    expect(v2).toMatchObject({ workflow: null, state: null, "var.score": null, modalities: ["MR", "SR"] });
    // Values: the experiment's own, the subject's on both its visits, a scan's on its experiment.
    expect([v1["value.brain_volume_ml"], v2["value.brain_volume_ml"], w1["value.brain_volume_ml"]]).toEqual([1210.5, null, null]);
    expect([v1["value.handedness"], v2["value.handedness"], w1["value.handedness"]]).toEqual(["right", "right", null]);
    expect(w1["value.slice_count"]).toBe(120);
    // Answers from the latest result version: agreeing reads give their value, the adjudication
    // decides what it answered, disagreeing reads give every answer; a task not done gives nothing.
    expect(v1["task.scan-qc.usable"]).toBe("yes");
    expect(v1["task.scan-qc.quality"]).toBe(3);
    expect(w1["task.scan-qc.usable"]).toEqual(["no", "borderline"]);
    expect(w1["task.scan-qc.reason"]).toEqual(['["motion"]', '["motion","artefact"]']);
    expect(w1["task.scan-qc.quality"]).toBe(1);
    expect(v2["task.scan-qc.usable"]).toBeNull();
    expect(w1["task.legacy-viewr.flag"]).toBe("seen");

    const dict = new Map(t.dictionary.map((d) => [d.column, d]));
    expect(t.dictionary.map((d) => d.column)).toEqual(Object.keys(v1));
    expect(dict.get("var.score")).toMatchObject({ type: "number" });
    expect(dict.get("var.ok")).toMatchObject({ type: "boolean" });
    expect(dict.get("value.brain_volume_ml")!.description).toBe("pipeline value 'brain_volume_ml' stored on the experiment by brain-volume 1.2");
    expect(dict.get("value.handedness")!.description).toBe("pipeline value 'handedness' stored on the subject");
    expect(dict.get("task.scan-qc.usable")).toMatchObject({ type: "single", values: ["yes", "borderline", "no"] });
    expect(dict.get("task.scan-qc.usable")!.description).toMatch(/^Is the scan usable\? \(task template 'scan-qc', qc\)/);
    expect(dict.get("task.legacy-viewr.flag")).toMatchObject({ type: "json" });
  });

  it("writes CSV (formula-like text kept as text) and JSON with the dictionary, and follows new results", async () => {
    const csv = await studyExport(db.prisma, P, "csv");
    expect(csv.filename).toMatch(/^EXPORTS-study-export-\d{4}-\d{2}-\d{2}\.csv$/);
    const lines = csv.body.trimEnd().split("\r\n");
    expect(lines).toHaveLength(4);
    const header = lines[0]!.split(",");
    expect(header.slice(0, 7)).toEqual(["subject", "experiment", "study_date", "modalities", "workflow", "state", "state_since"]);
    const cellOf = (line: string, col: string) => line.split(",")[header.indexOf(col)];
    expect(cellOf(lines[2]!, "modalities")).toBe("MR;SR");
    expect(cellOf(lines[3]!, "task.scan-qc.usable")).toBe("no;borderline");
    expect(lines[3]).toContain(`,'=cmd|' /C calc'!A0,`);

    const json = JSON.parse((await studyExport(db.prisma, P, "json")).body) as { project: string; dictionary: { column: string }[]; rows: Record<string, unknown>[] };
    expect(json.project).toBe(P);
    expect(json.dictionary.map((d) => d.column)).toEqual(header);
    expect(json.rows).toHaveLength(3);

    // A new pipeline value arrives: the next export has it.
    await db.prisma.archiveValue.create({ data: { projectId: P, subjectId: ids.s1!, experimentId: ids.v2!, name: "brain_volume_ml", value: 1198 } });
    expect((await studyExportTable(db.prisma, P)).rows[1]!["value.brain_volume_ml"]).toBe(1198);
  });

  it("an empty project exports its header only", async () => {
    await db.prisma.project.create({ data: { id: "EMPTYX", idLower: "emptyx", name: "Empty" } });
    expect((await studyExport(db.prisma, "EMPTYX", "csv")).body).toBe("subject,experiment,study_date,modalities,workflow,state,state_since\r\n");
  });
});

describe("final answers (lib)", () => {
  it("the adjudication wins for what it answered; agreeing reads give one value; no answer is null", () => {
    const a = { template: null, reads: [{ q: 1, r: "x" }, { q: 1, r: "y" }], adjudicated: { r: "y" } };
    expect(finalAnswer(a, "q")).toBe(1);
    expect(finalAnswer(a, "r")).toBe("y");
    expect(finalAnswer(a, "missing")).toBeNull();
    expect(studyCsv(studyTable([]))).toBe("subject,experiment,study_date,modalities,workflow,state,state_since\r\n");
  });
});
