// Task templates: schema, errors at their line, matching scans (best wins, missing → cannot be done),
// answer validation (types, required, conditional questions, annotation rules), disagreement, distribution.
import { describe, expect, it } from "vitest";
import { parseTemplateSource, parseTemplateOrThrow } from "@/lib/tasks/parse";
import { resolveTemplate, rankSeries, type SeriesInfo } from "@/lib/tasks/match";
import { validateSubmission, visibleQuestions, defaultAnswers, Submission } from "@/lib/tasks/answers";
import { findDisagreements, pickReader, planAssignments, DisagreementRule } from "@/lib/tasks/group";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";

const NEURO = `
schemaVersion: 1
title: Neuro read
estimatedMinutes: 5
instructions: { url: "https://sop.example.org/neuro" }
scans:
  t1:
    label: T1-weighted series
    rules:
      - { attribute: modality, equals: MR, required: true }
      - { attribute: seriesDescription, matches: "t1|mprage", weight: 10 }
      - { attribute: numberOfSlices, min: 100, weight: 2 }
      - { attribute: seriesDescription, contains: "gd", weight: -0 }
  flair:
    label: FLAIR series
    required: false
    rules:
      - { attribute: seriesDescription, contains: flair, required: true }
overlays:
  seg: { label: lesion segmentation, pipeline: lst, output: lesions }
contexts:
  - id: t1qc
    title: T1 QC
    layout: { grid: 1x2, viewports: [ { id: a, scan: t1, orientation: axial, sync: [{kind: scroll, group: A}] }, { id: b, scan: t1, orientation: sagittal } ] }
    tools: [ { type: length } ]
    form:
      - { id: ok, type: boolean, label: Usable, required: true }
      - { id: why, type: text, label: Why not, required: true, showIf: { question: ok, equals: false } }
  - id: lesions
    title: FLAIR lesions
    layout: { rows: 1, columns: 1, viewports: [ { id: f, scan: flair, overlays: [seg] } ] }
    tools: [ { type: point, id: lesion, labels: [lesion, other] }, { type: brush, labels: [ { name: wmh, color: "#ff0000" } ] } ]
    hotkeys: { p: lesion, b: brush, Enter: submit }
    form:
      - { id: count, type: integer, label: Lesion count, min: 0, max: 500, required: true }
      - { id: volume, type: number, label: Volume, unit: ml, min: 0 }
      - { id: fazekas, type: likert, label: Fazekas, points: 4 }
      - { id: scanned, type: date, label: Date read, max: "2030-01-01" }
      - { id: sites, type: multiple, label: Sites, options: [ {value: pv}, {value: deep}, {value: juxta} ], maxSelected: 2 }
      - { id: grade, type: single, label: Grade, options: [ {value: mild}, {value: severe} ] }
    annotationRules:
      - { tool: lesion, label: lesion, min: 1, showIf: { question: count, notEquals: 0 } }
`;

describe("template schema", () => {
  it("reads a full template in YAML and the same in JSON", () => {
    const r = parseTemplateSource(NEURO);
    expect(r.ok, JSON.stringify(!r.ok && r.errors)).toBe(true);
    const t = parseTemplateOrThrow(NEURO);
    expect(t.contexts[0]!.layout.rows).toBe(1);
    expect(t.contexts[0]!.layout.columns).toBe(2);
    expect(t.contexts[0]!.layout.viewports[0]!.window).toBe("auto");
    const json = parseTemplateSource(JSON.stringify(t, null, 2));
    expect(json.ok && json.format).toBe("json");
    expect(parseTemplateOrThrow(DEMO_QC_TEMPLATE).contexts[0]!.form.length).toBe(4);
  });

  it("places each error at its line", () => {
    const bad = NEURO.replace("scan: flair, overlays", "scan: flare, overlays").replace("points: 4", "points: 40").replace("b: brush", "b: pen");
    const r = parseTemplateSource(bad);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = bad.split("\n");
    const at = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    const find = (path: string) => r.errors.find((e) => e.path === path);
    expect(find("contexts.1.layout.viewports.0.scan")).toMatchObject({ line: at("scan: flare"), message: expect.stringContaining('"flare", which is not a scan') });
    expect(find("contexts.1.form.2.points")).toMatchObject({ line: at("points: 40") });
    expect(find("contexts.1.hotkeys.b")!.message).toContain("neither a tool");
  });

  it("explains YAML syntax errors, unknown keys, bad regexes and forward showIf", () => {
    const syntax = parseTemplateSource("schemaVersion: 1\ntitle: [unclosed\n");
    expect(!syntax.ok && syntax.errors[0]!.line).toBeGreaterThan(0);
    const unknown = parseTemplateSource(NEURO.replace("estimatedMinutes: 5", "estimatedMinutes: 5\ncolour: blue"));
    expect(!unknown.ok && unknown.errors[0]).toMatchObject({ line: 5 });
    const regex = parseTemplateSource(NEURO.replace('matches: "t1|mprage"', 'matches: "(?=t1)"'));
    expect(!regex.ok && regex.errors[0]!.path).toBe("scans.t1.rules.1.matches");
    const forward = parseTemplateSource(NEURO.replace("showIf: { question: ok, equals: false }", "showIf: { question: count, equals: 0 }"));
    expect(!forward.ok && forward.errors[0]!.message).toContain("not a question asked before");
    const twice = parseTemplateSource(NEURO.replace("id: count,", "id: ok,"));
    expect(!twice.ok && twice.errors.some((e) => e.message.includes('"ok" is used twice'))).toBe(true);
    const grid = parseTemplateSource(NEURO.replace("grid: 1x2", "grid: 5x5"));
    expect(!grid.ok && grid.errors[0]!.message).toContain("unknown grid");
  });
});

const series = (uid: string, modality: string, desc: string, slices: number, num: number): SeriesInfo => ({ seriesInstanceUid: uid, modality, seriesDescription: desc, numberOfSlices: slices, seriesNumber: num });

describe("matching scans", () => {
  const t = parseTemplateOrThrow(NEURO);
  it("picks the best-scoring series, ties by series number", () => {
    const all = [series("1", "MR", "localizer", 3, 1), series("2", "MR", "T1 MPRAGE", 176, 5), series("3", "MR", "t1_se", 20, 4), series("4", "CT", "T1 lookalike", 300, 2), series("5", "MR", "FLAIR", 48, 6)];
    const r = resolveTemplate(t, all, [{ pipeline: "lst", output: "lesions", url: "https://x/seg.nii.gz" }]);
    expect(r.cannotBeDone).toBeNull();
    expect(r.scans.t1!.seriesInstanceUid).toBe("2");
    expect(r.scans.t1!.score).toBe(13); // MR 1 + t1|mprage 10 + ≥100 slices 2
    expect(r.scans.flair!.seriesInstanceUid).toBe("5");
    expect(r.overlays.seg!.url).toContain("seg.nii.gz");
    expect(rankSeries(t.scans.t1!, all).map((c) => c.series.seriesInstanceUid)).toEqual(["2", "3", "1", "5"]); // 1 and 5 both score 1: series number 1 first
    const tie = rankSeries(t.scans.t1!, [series("b", "MR", "t1", 10, 7), series("a", "MR", "t1", 10, 3)]);
    expect(tie.map((c) => c.series.seriesInstanceUid)).toEqual(["a", "b"]);
  });
  it("says what is missing when a required scan is not there, and leaves optional ones empty", () => {
    const r = resolveTemplate(t, [series("9", "CT", "head", 200, 1)]);
    expect(r.cannotBeDone).toBe("cannot be done: no T1-weighted series");
    expect(r.missingOptional.sort()).toEqual(["flair", "seg"]);
  });
});

describe("answers", () => {
  const t = parseTemplateOrThrow(NEURO);
  const sub = (answers: Record<string, unknown>, annotations: unknown[] = []) => Submission.parse({ answers, annotations });
  it("accepts a complete submission", () => {
    const r = validateSubmission(t, sub({ ok: true, count: 2, volume: 1.5, fazekas: 2, scanned: "2026-01-02", sites: ["pv"], grade: "mild" }, [{ id: "a1", context: "lesions", tool: "lesion", label: "lesion", points: [[1, 2, 3]] }]), "submit");
    expect(r.errors).toEqual([]);
  });
  it("names the field and the reason of each problem", () => {
    const r = validateSubmission(t, sub({ ok: true, count: 2.5, volume: -1, fazekas: 9, scanned: "2031-02-30", sites: ["pv", "deep", "juxta"], grade: "worst", nope: 1 }), "submit");
    const by = Object.fromEntries(r.errors.map((e) => [e.field, e.message]));
    expect(by.nope).toContain("not a question");
    expect(by.count).toContain("whole number");
    expect(by.volume).toContain("at least 0 ml");
    expect(by.fazekas).toContain("1 to 4");
    expect(by.scanned).toContain("YYYY-MM-DD");
    expect(by.sites).toContain("at most 2");
    expect(by.grade).toContain('"worst" is not one of the options');
    expect(by["annotations.lesions.lesion"]).toContain("at least 1");
  });
  it("asks conditional questions only when shown, and applies annotation rules under their condition", () => {
    expect(visibleQuestions(t, { ok: true }).has("why")).toBe(false);
    expect(visibleQuestions(t, { ok: false }).has("why")).toBe(true);
    const missing = validateSubmission(t, sub({ ok: false, count: 0 }), "submit");
    expect(missing.errors).toEqual([{ field: "why", message: '"Why not" is required' }]);
    const hidden = validateSubmission(t, sub({ ok: true, why: "dropped", count: 0 }), "submit");
    expect(hidden.errors).toEqual([]);
    expect(hidden.clean.answers.why).toBeUndefined();
  });
  it("checks drafts for types only", () => {
    expect(validateSubmission(t, sub({ count: 3 }), "draft").errors).toEqual([]);
    expect(validateSubmission(t, sub({ count: "three" }), "draft").errors[0]!.field).toBe("count");
    expect(validateSubmission(t, sub({}, [{ id: "x", context: "t1qc", tool: "lesion" }]), "draft").errors[0]!.message).toContain('has no tool "lesion"');
  });
  it("fills defaults", () => {
    expect(defaultAnswers(parseTemplateOrThrow(NEURO.replace("label: Usable,", "label: Usable, default: true,")))).toEqual({ ok: true });
  });
});

describe("disagreement", () => {
  const t = parseTemplateOrThrow(NEURO);
  const rule = DisagreementRule.parse({ numberTolerance: 1, pointDistanceMm: 5 });
  const read = (answers: Record<string, unknown>, pts: [number, number, number][] = []) => ({ readerId: "r", answers: answers as never, annotations: pts.length ? [{ id: "a", context: "lesions", tool: "lesion", label: "lesion", points: pts }] : [] });
  it("agrees within tolerances", () => {
    expect(findDisagreements(t, rule, [read({ ok: true, count: 3 }, [[0, 0, 0]]), read({ ok: true, count: 4 }, [[3, 0, 0]])])).toEqual([]);
  });
  it("finds different choices, numbers beyond the tolerance and distant points", () => {
    const d = findDisagreements(t, rule, [read({ ok: true, count: 3 }, [[0, 0, 0]]), read({ ok: false, count: 6 }, [[30, 0, 0]])]);
    expect(d.map((x) => x.field).sort()).toEqual(["annotations.lesions.lesion.lesion", "count", "ok"]);
  });
});

describe("distribution", () => {
  it("picks the least loaded reader by weight and never one with weight 0", () => {
    const pool = [{ userId: "a", weight: 1 }, { userId: "b", weight: 2 }, { userId: "z", weight: 0 }];
    expect(pickReader(pool, [{ assignees: ["a"] }, { assignees: ["b"] }])).toBe("b");
    expect(pickReader(pool, [{ assignees: ["b"] }, { assignees: ["b"] }, { assignees: ["b"] }])).toBe("a");
    expect(pickReader([{ userId: "z", weight: 0 }], [])).toBeNull();
    const plan = planAssignments("balanced", 30, 1, pool);
    const counts = plan.flat().reduce<Record<string, number>>((m, u) => ({ ...m, [u]: (m[u] ?? 0) + 1 }), {});
    expect(counts).toEqual({ a: 10, b: 20 });
  });
  it("gives each case's reads to different readers, and refuses impossible plans", () => {
    const pool = ["a", "b", "c"].map((userId) => ({ userId, weight: 1 }));
    for (const readers of planAssignments("balanced", 10, 2, pool)) expect(new Set(readers).size).toBe(2);
    expect(new Set(planAssignments("same", 5, 1, pool).flat()).size).toBe(1);
    expect(() => planAssignments("unique", 4, 1, pool)).toThrow(/4 tasks need as many readers/);
    expect(() => planAssignments("balanced", 1, 4, pool)).toThrow(/at least 4 readers/);
  });
});
