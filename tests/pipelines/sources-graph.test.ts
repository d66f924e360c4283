// Source selection on archived experiments (modality, series description, min/max, resources, skips
// with a note) and the pipeline graph the portal lays out.
import { describe, expect, it } from "vitest";
import { selectSources, type ExperimentRow } from "@/lib/pipelines/sources";
import { pipelineGraph } from "@/lib/pipelines/graph";
import { pipelineSchema } from "@/lib/pipelines/schema";

const scan = (id: string, seriesNumber: number, modality: string, seriesDescription: string, instanceCount = 1) => ({ id, seriesNumber, modality, seriesDescription, instanceCount });
const exps: ExperimentRow[] = [
  { id: "E1", subjectId: "S1", label: "S1_A", scans: [scan("c3", 3, "CT", "Abdomen"), scan("m1", 1, "MR", "T1 axial"), scan("m2", 2, "MR", "T2 axial"), scan("m0", 4, "MR", "T1 empty", 0)], resources: [{ id: "R1", name: "NIFTI", scanId: "m1" }] },
  { id: "E2", subjectId: "S2", label: "S2_A", scans: [scan("x1", 1, "CT", "Head")], resources: [] },
];
const def = (sources: unknown) => pipelineSchema.parse({ kind: "pipeline", id: "p", version: 1, sources, nodes: {} });

describe("selectSources", () => {
  it("takes scans by modality and description pattern, lowest series numbers first, without empty scans", () => {
    const r = selectSources(def({ s: { from: "scans", modality: "mr", seriesDescription: "^t1" } }), exps);
    expect(r.sources.s!.map((i) => i.key)).toEqual([["S1", "E1", "m1"]]);
    expect(r.notes).toEqual(["Experiment S2_A skipped: source \"s\" found 0 matching scan(s), 1 needed."]);
    const max = selectSources(def({ s: { from: "scans", modality: ["MR", "CT"], max: 2 } }), exps);
    expect(max.sources.s!.map((i) => i.key[2])).toEqual(["m1", "m2", "x1"]);
  });
  it("skips an experiment with fewer scans than min, and one without the resource a source needs", () => {
    const r = selectSources(def({ s: { from: "scans", min: 2 } }), exps);
    expect(r.sources.s!.every((i) => i.key[1] === "E1")).toBe(true);
    expect(r.notes[0]).toMatch(/S2_A skipped: source "s" found 1 matching scan\(s\), 2 needed/);
    const res = selectSources(def({ n: { from: "resource", resource: "NIFTI", on: "scan" } }), exps);
    expect(res.sources.n).toEqual([{ key: ["S1", "E1", "m1"], ref: { kind: "resource", resourceId: "R1" } }]);
    expect(res.notes[0]).toMatch(/S2_A skipped: source "n" needs resource NIFTI on the scan/);
  });
});

it("pipelineGraph: sources, nodes and sinks with their links (a fan-in says its level)", () => {
  const g = pipelineGraph(
    pipelineSchema.parse({
      kind: "pipeline",
      id: "p",
      version: 1,
      sources: { series: { from: "scans" } },
      nodes: { stats: { tool: "t", in: { image: "series" } }, summary: { tool: "u", in: { values: { from: "stats.mean", collapse: "subject" } } } },
      sinks: { m: { from: "summary.mean", value: "mean" } },
    }),
  );
  expect(g.nodes.map((n) => n.id)).toEqual(["source:series", "node:stats", "node:summary", "sink:m"]);
  expect(g.edges.map((e) => [e.from, e.to, e.label])).toEqual([
    ["source:series", "node:stats", "image"],
    ["node:stats", "node:summary", "mean → values (per subject)"],
    ["node:summary", "sink:m", "mean"],
  ]);
});
