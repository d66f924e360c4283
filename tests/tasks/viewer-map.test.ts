import { describe, expect, it } from "vitest";
import { parseTemplateOrThrow } from "@/lib/tasks/parse";
import { taskSeries, toTaskAnnotations, toViewerAnnotations, viewerSetup } from "@/lib/tasks/viewer-map";
import { validateSubmission } from "@/lib/tasks/answers";

const T = parseTemplateOrThrow(`
schemaVersion: 1
title: Lesions
scans: { flair: { label: FLAIR series, rules: [{ attribute: seriesDescription, contains: flair }] } }
contexts:
  - id: les
    title: FLAIR lesions
    layout: { grid: 1x1, viewports: [{ id: main, scan: flair }] }
    tools:
      - { type: point, id: lesion, labels: [lesion], hotkey: k }
      - { type: brush, labels: [{ name: WMH, color: "#ff0000" }] }
      - { type: length }
    hotkeys: { s: save, Enter: submit, m: length }
    annotationRules: [{ tool: lesion, label: lesion, min: 1 }]
`);

describe("viewer-map", () => {
  it("gives the viewer the context's tools, labels and keys, and the page its commands", () => {
    const s = viewerSetup(T.contexts[0]!);
    expect(s.tools).toEqual(["point", "brush", "length"]);
    expect(s.labels).toEqual([{ value: 1, name: "lesion" }, { value: 2, name: "WMH", color: "#ff0000" }]);
    expect(s.viewerHotkeys).toEqual({ point: "k", length: "m" });
    expect(s.commands).toEqual({ s: "save", Enter: "submit" });
  });

  it("translates measurements and labelmaps both ways, and the annotation rules read them", () => {
    const c = T.contexts[0]!;
    const va = {
      version: 1 as const,
      measurements: [{ uid: "m1", tool: "point" as const, ref: { scan: "flair", viewportId: "main", sopInstanceUid: "1.2.3" }, points: [[1, 2, 3]] as [number, number, number][], label: "lesion" }],
      labelmaps: [{ scan: "flair", slices: [{ sopInstanceUid: "1.2.3", frame: 1, rows: 2, columns: 2, runs: [[0, 2, 1]] as [number, number, number][] }] }],
    };
    const task = toTaskAnnotations(c, va);
    expect(task.map((a) => [a.tool, a.label ?? null, a.points.length])).toEqual([["lesion", "lesion", 1], ["brush", null, 0]]);
    expect(toViewerAnnotations("les", task)).toEqual(va);
    expect(toViewerAnnotations("other", task)).toEqual({ version: 1, measurements: [], labelmaps: [] });
    expect(validateSubmission(T, { answers: {}, annotations: task }, "submit").errors).toEqual([]);
    expect(validateSubmission(T, { answers: {}, annotations: [] }, "submit").errors[0]!.field).toBe("annotations.les.lesion");
  });

  it("gives each of the template's scans the series matched for the task, with the pseudonymous labels, or null", () => {
    const experiment = { studyInstanceUid: "1.2.3", subject: "PSEUDO_1", label: "PSEUDO_1_MR" };
    const resolution = { scans: { flair: { seriesInstanceUid: "1.2.3.4" } } };
    expect(taskSeries("P1", ["flair", "t1"], { resolution, experiment })).toEqual({
      flair: { projectId: "P1", studyInstanceUid: "1.2.3", seriesInstanceUid: "1.2.3.4", subjectLabel: "PSEUDO_1", experimentLabel: "PSEUDO_1_MR" },
      t1: null,
    });
    expect(taskSeries("P1", ["flair"], { resolution, experiment: null })).toEqual({ flair: null });
    expect(taskSeries("P1", ["flair"], { resolution: null, experiment })).toEqual({ flair: null });
  });
});
