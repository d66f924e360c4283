import { describe, expect, it } from "vitest";
import { parsePipelineText, parseToolText, parseDefinitionText } from "@/lib/pipelines/document";
import { analyzePipeline, toolCatalog, validateTool } from "@/lib/pipelines/validate";
import { buildCommand } from "@/lib/pipelines/command";
import type { ToolDefinition } from "@/lib/pipelines/schema";

const dcm2niixYaml = `kind: tool
id: dcm2niix
version: "1.0"
command:
  - dcm2niix
  - { input: compress, flag: "-z" }
  - -f
  - "{sample}"
  - -o
  - "{outdir}"
  - "{dicom}"
inputs:
  - { id: dicom, type: dicom-series }
  - { id: compress, type: enum, values: ["y", "n"], default: "y" }
outputs:
  - { id: nifti, type: nifti, find: { glob: "out/*.nii.gz" }, list: false }
`;

const statsYaml = `kind: tool
id: nifti-stats
version: "1"
command: [node, stats.mjs, "{image}", { optional: [--threshold, "{threshold}"] }]
inputs:
  - { id: image, type: nifti }
  - { id: threshold, type: number, required: false }
outputs:
  - { id: mean, type: number, find: { stdout: mean } }
  - { id: voxels, type: integer, find: { stdout: voxels } }
`;

function tool(text: string): ToolDefinition {
  const r = parseToolText(text);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

describe("tool definitions", () => {
  it("reads a tool and reports a wrong field at its line", () => {
    const r = parseToolText(dcm2niixYaml.replace("type: dicom-series", "type: dicom-serie"));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]!.line).toBe(13);
  });

  it("a glob output that is not a list and a file output on stdout are reported", () => {
    const t = tool(statsYaml.replace("{ id: mean, type: number", "{ id: mean, type: nifti"));
    const problems = validateTool(t);
    expect(problems.map((p) => p.message).join("\n")).toMatch(/Output "mean" is a nifti: find it by "path" or "glob"/);
  });

  it("an optional input outside an optional part is refused", () => {
    const t = tool(statsYaml.replace('{ optional: [--threshold, "{threshold}"] }', '"{threshold}"'));
    expect(validateTool(t).map((p) => p.message).join()).toMatch(/optional input \{threshold\} outside an "optional" part/);
  });

  it("builds the command: flags, defaults, optional parts", () => {
    const ctx = { outdir: "/w/out", workdir: "/w", cores: 1, memoryMb: 100, sample: "S1" };
    expect(buildCommand(tool(dcm2niixYaml), { dicom: "/w/in/dicom" }, ctx)).toEqual(["dcm2niix", "-z", "y", "-f", "S1", "-o", "/w/out", "/w/in/dicom"]);
    const stats = tool(statsYaml);
    expect(buildCommand(stats, { image: "a.nii" }, ctx)).toEqual(["node", "stats.mjs", "a.nii"]);
    expect(buildCommand(stats, { image: "a.nii", threshold: 3 }, ctx)).toEqual(["node", "stats.mjs", "a.nii", "--threshold", "3"]);
    expect(() => buildCommand(stats, {}, ctx)).toThrow(/required input "image"/);
  });

  it("lists: joined, repeated flag, one argument each; booleans as flags", () => {
    const t = tool(`kind: tool
id: t
version: "1"
command: [prog, { input: a, flag: --a, join: "," }, { input: b, flag: -b, repeatFlag: true }, { input: c }, { input: v, flag: --verbose }]
inputs:
  - { id: a, type: integer, list: true }
  - { id: b, type: string, list: true }
  - { id: c, type: file, list: true }
  - { id: v, type: boolean, default: false }
`);
    expect(validateTool(t)).toEqual([]);
    const ctx = { outdir: "o", workdir: "w", cores: 1, memoryMb: 1, sample: "s" };
    expect(buildCommand(t, { a: [1, 2], b: ["x", "y"], c: ["f1", "f2"], v: true }, ctx)).toEqual(["prog", "--a", "1,2", "-b", "x", "-b", "y", "f1", "f2", "--verbose"]);
    expect(buildCommand(t, { a: [1], b: [], c: ["f"] }, ctx)).toEqual(["prog", "--a", "1", "f"]);
  });
});

describe("pipelines", () => {
  const catalog = toolCatalog([tool(dcm2niixYaml), tool(statsYaml)]);
  const pipeline = `kind: pipeline
id: dicom-stats
version: 1
sources:
  series: { from: scans, modality: [CT, MR] }
constants:
  level: { type: number, value: 100 }
nodes:
  convert:
    tool: dcm2niix
    in:
      dicom: series
  stats:
    tool: nifti-stats
    in:
      image: convert.nifti
      threshold: level
sinks:
  nifti: { from: convert.nifti, resource: NIFTI }
  mean: { from: stats.mean, value: mean }
`;

  it("a valid pipeline: nodes in order, one job per scan", () => {
    const r = parsePipelineText(pipeline);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { problems, analyzed } = analyzePipeline(r.value, catalog, r.source);
    expect(problems).toEqual([]);
    expect(analyzed!.order).toEqual(["convert", "stats"]);
    expect(analyzed!.nodes.stats!.level).toBe("scan");
  });

  function problemsOf(text: string) {
    const r = parsePipelineText(text);
    if (!r.ok) return r.problems;
    return analyzePipeline(r.value, catalog, r.source).problems;
  }

  it("unknown tool: names the node and the line", () => {
    const [p] = problemsOf(pipeline.replace("tool: nifti-stats", "tool: nifti-statz"));
    expect(p).toMatchObject({ node: "stats", line: 14 });
    expect(p!.message).toMatch(/unknown tool "nifti-statz".*Known tools: dcm2niix, nifti-stats/);
  });

  it("type mismatch: names the link", () => {
    const [p] = problemsOf(pipeline.replace("image: convert.nifti", "image: series"));
    expect(p).toMatchObject({ node: "stats", link: "series → stats.image", line: 16 });
    expect(p!.message).toMatch(/a dicom-series cannot go into a nifti/);
  });

  it("missing required input", () => {
    const [p] = problemsOf(pipeline.replace("      dicom: series\n", "      {}\n").replace("    in:\n      {}", "    in: {}"));
    expect(p!.message).toMatch(/required input "dicom" .* is not linked/);
    expect(p!.node).toBe("convert");
  });

  it("cycle", () => {
    const cyc = toolCatalog([
      tool(`kind: tool\nid: pass\nversion: "1"\ncommand: [cp, "{x}", "{outdir}/y"]\ninputs: [{ id: x, type: file }]\noutputs: [{ id: y, type: file, find: { path: "out/y" } }]\n`),
    ]);
    const r = parsePipelineText(`kind: pipeline\nid: c\nversion: 1\nnodes:\n  a: { tool: pass, in: { x: b.y } }\n  b: { tool: pass, in: { x: a.y } }\n`);
    if (!r.ok) throw new Error("parse");
    const { problems } = analyzePipeline(r.value, cyc, r.source);
    expect(problems[0]!.message).toMatch(/cycle: (a → b → a|b → a → b)/);
  });

  it("fan-in: a list input needs collapse; with it the node runs per subject", () => {
    const sum = tool(`kind: tool\nid: summary\nversion: "1"\ncommand: [node, s.mjs, { input: means }]\ninputs: [{ id: means, type: number, list: true }]\noutputs: [{ id: n, type: integer, find: { stdout: n } }]\n`);
    const cat = toolCatalog([tool(dcm2niixYaml), tool(statsYaml), sum]);
    const base = pipeline.replace("sinks:", "  summary:\n    tool: summary\n    in:\n      means: MEANS\nsinks:");
    let r = parsePipelineText(base.replace("MEANS", "stats.mean"));
    expect(r.ok && analyzePipeline(r.value, cat, r.source).problems[0]!.message).toMatch(/without a fan-in: add "collapse: experiment"/);
    r = parsePipelineText(base.replace("MEANS", "{ from: stats.mean, collapse: subject }"));
    if (!r.ok) throw new Error("parse");
    const a = analyzePipeline(r.value, cat, r.source);
    expect(a.problems).toEqual([]);
    expect(a.analyzed!.nodes.summary!.level).toBe("subject");
  });

  it("a file without kind says what to write", () => {
    const r = parseDefinitionText("id: x\n");
    expect(!r.ok && r.problems[0]!.message).toMatch(/kind: tool.*kind: pipeline/);
  });
});

describe("fastr tool import", () => {
  it("maps id, version, binary, typed inputs with prefixes, enums, cardinality; lists what does not map", async () => {
    const { importFastrTool } = await import("@/lib/pipelines/fastr");
    const { tool: t, unmapped } = importFastrTool(
      JSON.stringify({
        id: "AddInt",
        version: "0.1",
        command: { version: "1.0", targets: [{ os: "*", arch: "*", bin: "addint.py" }] },
        interface: {
          inputs: [
            { id: "left", datatype: "Int", prefix: "--in1" },
            { id: "right", datatype: "Int", prefix: "--in2", cardinality: "1-*" },
            { id: "mode", enum: ["fast", "slow"], prefix: "--mode", required: false },
            { id: "img", datatype: "ITKImageFile", environ: "IMG" },
          ],
          outputs: [{ id: "result", datatype: "Int", automatic: true }],
        },
      }),
    );
    expect(t).toMatchObject({ id: "AddInt", version: "0.1", requires: { binaries: ["addint.py"] } });
    expect(t.inputs.map((i) => [i.id, i.type, i.list])).toEqual([["left", "integer", false], ["right", "integer", true], ["mode", "enum", false], ["img", "file", false]]);
    const ctx = { outdir: "o", workdir: "w", cores: 1, memoryMb: 1, sample: "s" };
    expect(buildCommand(t, { left: 1, right: [2, 3], img: "a.mha" }, ctx)).toEqual(["addint.py", "--in1", "1", "--in2", "2", "3", "a.mha"]);
    expect(unmapped.join("\n")).toMatch(/datatype ITKImageFile/);
    expect(unmapped.join("\n")).toMatch(/input "img": environ/);
    expect(() => importFastrTool("<tool id='x'/>")).toThrow(/XML/);
  });
});

describe("atrium pipeline validate", () => {
  it("prints the problem at its line and exits 1; a valid example exits 0", async () => {
    const { spawnSync } = await import("node:child_process");
    const { writeFileSync, mkdtempSync, readFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const path = await import("node:path");
    const dir = mkdtempSync(path.join(tmpdir(), "atrium-validate-"));
    const bad = path.join(dir, "bad.yaml");
    writeFileSync(bad, readFileSync("lib/pipelines/examples/dicom-stats.pipeline.yaml", "utf8").replace("image: convert.nifti", "image: series"));
    const env = { ...process.env, ATRIUM_CLI_FROM_SOURCE: "1" };
    const r = spawnSync(process.execPath, ["bin/atrium.mjs", "pipeline", "validate", bad], { encoding: "utf8", env });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("line 13: Node \"stats\", link series → stats.image: a dicom-series cannot go into a nifti");
    const ok = spawnSync(process.execPath, ["bin/atrium.mjs", "pipeline", "validate", "lib/pipelines/examples/subject-summary.pipeline.yaml"], { encoding: "utf8", env });
    expect(ok.stdout).toContain("valid pipeline subject-summary");
    expect(ok.status).toBe(0);
  }, 60_000);
});

describe("PROV-JSON", () => {
  it("links jobs, tools, inputs and outputs by sha256", async () => {
    const { provDocument } = await import("@/lib/pipelines/prov");
    const doc = provDocument({ id: "R1", pipelineId: "dicom-stats", pipelineVersion: "1", startedAt: new Date(0), endedAt: new Date(1000) }, [
      { id: "J1", node: "convert", sample: "S/E/C", toolId: "dcm2niix", toolVersion: "1", command: ["dcm2niix", "x"], startedAt: null, endedAt: null, state: "succeeded", inputHashes: { dicom: "a".repeat(64) }, outputHashes: { nifti: "b".repeat(64) }, after: [] },
      { id: "J2", node: "stats", sample: "S/E/C", toolId: "nifti-stats", toolVersion: "1", command: ["node"], startedAt: null, endedAt: null, state: "succeeded", inputHashes: { image: "b".repeat(64) }, outputHashes: {}, after: ["J1"] },
    ]);
    expect(Object.keys(doc.activity)).toEqual(["atrium:run/R1", "atrium:job/J1", "atrium:job/J2"]);
    expect(Object.values(doc.wasGeneratedBy)).toContainEqual({ "prov:entity": `atrium:sha256/${"b".repeat(64)}`, "prov:activity": "atrium:job/J1", "prov:role": "nifti" });
    expect(Object.values(doc.used)).toContainEqual({ "prov:activity": "atrium:job/J2", "prov:entity": `atrium:sha256/${"b".repeat(64)}`, "prov:role": "image" });
    expect(Object.values(doc.wasInformedBy)).toContainEqual({ "prov:informed": "atrium:job/J2", "prov:informant": "atrium:job/J1" });
    expect(doc.agent["atrium:tool/dcm2niix@1"]).toBeDefined();
  });
});

describe("reuse key", () => {
  it("changes with the tool version, a parameter or an input's checksum, not with key order", async () => {
    const { reuseKey } = await import("@/lib/pipelines/runner");
    const k = reuseKey("t", "1", { a: 1, b: "x" }, { "in/x": "aa" });
    expect(reuseKey("t", "1", { b: "x", a: 1 }, { "in/x": "aa" })).toBe(k);
    expect(reuseKey("t", "2", { a: 1, b: "x" }, { "in/x": "aa" })).not.toBe(k);
    expect(reuseKey("t", "1", { a: 2, b: "x" }, { "in/x": "aa" })).not.toBe(k);
    expect(reuseKey("t", "1", { a: 1, b: "x" }, { "in/x": "ab" })).not.toBe(k);
  });
});
