// The shipped examples end to end on the shared samples through the local executor (no database):
// dicom-stats (one job per series, fan-out) and subject-summary (fan-in per subject); a failing
// series skips its dependents with the reason.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { SAMPLES_DIR } from "@/lib/samples";
import { parsePipelineText, parseToolText } from "@/lib/pipelines/document";
import { analyzePipeline, toolCatalog, validateTool } from "@/lib/pipelines/validate";
import { planRun, type SourceItem } from "@/lib/pipelines/plan";
import { runPlanned } from "@/lib/pipelines/runner";
import { createLocalExecutor } from "@/lib/pipelines/executors/local";
import type { ToolDefinition } from "@/lib/pipelines/schema";

const EX = path.resolve("lib/pipelines/examples");
function tools(): ToolDefinition[] {
  return ["dcm2niix", "nifti-stats", "subject-summary"].map((n) => {
    const r = parseToolText(readFileSync(path.join(EX, `${n}.tool.yaml`), "utf8"));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(validateTool(r.value)).toEqual([]);
    const script = r.value.inputs.find((i) => i.id === "script");
    if (script) script.default = path.join(EX, "nifti-stats.mjs");
    return r.value;
  });
}
function pipeline(name: string) {
  const r = parsePipelineText(readFileSync(path.join(EX, `${name}.pipeline.yaml`), "utf8"));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const a = analyzePipeline(r.value, toolCatalog(tools()), r.source);
  expect(a.problems).toEqual([]);
  return a.analyzed!;
}

// Uncompressed CT and MR samples, each its own series; two subjects.
const rows = readFileSync(path.join(SAMPLES_DIR, "MANIFEST.tsv"), "utf8").split("\n").slice(1).map((l) => l.split("\t"));
const files = rows.filter((r) => ["CT", "MR"].includes(r[5]!) && /Little Endian/.test(r[7]!) && !r[9]).map((r) => r[0]!).slice(0, 4);
const items: SourceItem[] = files.map((f, i) => ({ key: [`SUBJ${i % 2}`, `EXP${i % 2}`, `SCAN${i}`], ref: f }));
const stage = async (_s: string, item: SourceItem, dest: string) => {
  await mkdir(dest, { recursive: true });
  await copyFile(path.join(SAMPLES_DIR, item.ref as string), path.join(dest, "1.dcm"));
  return dest;
};

describe("example pipelines on the shared samples (local executor)", () => {
  const executor = createLocalExecutor({ concurrency: 2 });

  it("dicom-stats: one conversion and one statistics job per series", async () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
    const p = pipeline("dicom-stats");
    const jobs = planRun(p, { series: items });
    expect(jobs.length).toBe(items.length * 2);
    const root = mkdtempSync(path.join(tmpdir(), "atrium-dicom-stats-"));
    const recs = await runPlanned(p, jobs, { executor, root, stage });
    for (const r of recs) expect(r.state, `${r.key}: ${r.reason}`).toBe("succeeded");
    const stats = recs.filter((r) => r.node === "stats");
    for (const s of stats) {
      const voxels = (s.outputs.voxels as { value: number }).value;
      expect(voxels).toBeGreaterThan(1000);
      expect(typeof (s.outputs.mean as { value: number }).value).toBe("number");
      expect(Object.keys(s.inputHashes)[0]).toMatch(/^in\/image\/image.*\.nii\.gz$/);
    }
    const convert = recs.find((r) => r.node === "convert")!;
    expect(Object.values(convert.outputHashes)[0]).toMatch(/^[0-9a-f]{64}$/);
  }, 120_000);

  it("subject-summary: the summary runs once per subject over all its series", async () => {
    const p = pipeline("subject-summary");
    const jobs = planRun(p, { series: items });
    const summaries = jobs.filter((j) => j.node === "summary");
    expect(summaries.map((j) => j.key).sort()).toEqual(["summary:SUBJ0", "summary:SUBJ1"]);
    expect(summaries[0]!.after.length).toBe(items.filter((i) => i.key[0] === "SUBJ0").length);
    const root = mkdtempSync(path.join(tmpdir(), "atrium-subject-summary-"));
    const recs = await runPlanned(p, jobs, { executor, root, stage });
    const s0 = recs.find((r) => r.key === "summary:SUBJ0")!;
    expect(s0.state, s0.reason ?? "").toBe("succeeded");
    expect((s0.outputs.n as { value: number }).value).toBe(summaries[0]!.after.length);
  }, 120_000);

  it("a series dcm2niix cannot convert fails with the reason; its statistics job is skipped", async () => {
    const p = pipeline("dicom-stats");
    const bad: SourceItem = { key: ["S", "E", "BAD"], ref: "dicomParser__report_dfl.dcm" };
    const recs = await runPlanned(p, planRun(p, { series: [bad] }), { executor, root: mkdtempSync(path.join(tmpdir(), "atrium-bad-")), stage });
    const conv = recs.find((r) => r.node === "convert")!;
    expect(conv.state).toBe("failed");
    expect(conv.reason).toMatch(/ended without writing output "nifti"|Exited with code/);
    expect(recs.find((r) => r.node === "stats")).toMatchObject({ state: "skipped", reason: expect.stringMatching(/upstream job convert:S\/E\/BAD failed/) });
  }, 60_000);
});
