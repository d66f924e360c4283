// Pipelines on the local executor. (1) 1,000 jobs of a no-op tool (`true`) through the local
// executor path (command built from the tool definition, job directory, log file, exit-code wrapper,
// /proc sampling, output discovery) against spawning the same 1,000 processes directly with the same
// concurrency (baseline, same run). Goal: Atrium's jobs/s ≥ 0.5× the bare spawn. (2) The dicom-stats
// example (dcm2niix → statistics) over every CT/MR sample series: wall time and CPU per series.
//
// Run: npx tsx bench/pipelines-local.ts [--jobs 1000] [--concurrency 2]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createLocalExecutor } from "../lib/pipelines/executors/local";
import { buildCommand } from "../lib/pipelines/command";
import { discoverOutputs } from "../lib/pipelines/outputs";
import { parsePipelineText, parseToolText } from "../lib/pipelines/document";
import { analyzePipeline, toolCatalog } from "../lib/pipelines/validate";
import { planRun, type SourceItem } from "../lib/pipelines/plan";
import { runPlanned } from "../lib/pipelines/runner";
import { SAMPLES_DIR } from "../lib/samples";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "1000" }, concurrency: { type: "string", default: "2" } } });
const N = Number(values.jobs);
const C = Number(values.concurrency);
const root = mkdtempSync(path.join(os.tmpdir(), "atrium-bench-pipelines-"));

async function pool(n: number, c: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n) await fn(next++);
  }));
}

async function bare(): Promise<number> {
  const t0 = performance.now();
  await pool(N, C, (i) => new Promise<void>((resolve, reject) => {
    void i;
    const p = spawn("true", [], { stdio: "ignore" });
    p.on("error", reject);
    p.on("exit", () => resolve());
  }));
  return (performance.now() - t0) / 1000;
}

async function viaExecutor(): Promise<number> {
  const tool = parseToolText(`kind: tool\nid: noop\nversion: "1"\ncommand: ["true"]\n`);
  if (!tool.ok) throw new Error("tool");
  const ex = createLocalExecutor({ concurrency: C });
  const t0 = performance.now();
  await pool(N, C * 2, async (i) => {
    const workDir = path.join(root, "noop", String(i));
    const spec = { jobId: `noop-${i}`, command: buildCommand(tool.value, {}, { outdir: path.join(workDir, "out"), workdir: workDir, cores: 1, memoryMb: 64, sample: String(i) }), workDir, logPath: path.join(workDir, "log.txt"), cores: 1, memoryMb: 64, wallTimeSeconds: 60 };
    const o = await ex.wait(await ex.submit(spec), spec);
    if (o.state !== "succeeded") throw new Error(`job ${i}: ${o.reason}`);
    await discoverOutputs(tool.value, workDir, "", (s) => s);
  });
  return (performance.now() - t0) / 1000;
}

const b = await bare();
const a = await viaExecutor();
console.log(`no-op jobs: ${N} at concurrency ${C}`);
console.log(`  bare spawn (baseline): ${(N / b).toFixed(0)} jobs/s (${b.toFixed(2)} s)`);
console.log(`  local executor path:   ${(N / a).toFixed(0)} jobs/s (${a.toFixed(2)} s) = ${(b / a).toFixed(2)}× the bare spawn (goal ≥ 0.5×)`);

// (2) dicom-stats over the samples.
const EX = path.resolve("lib/pipelines/examples");
const tools = ["dcm2niix", "nifti-stats", "subject-summary"].map((n) => {
  const r = parseToolText(readFileSync(path.join(EX, `${n}.tool.yaml`), "utf8"));
  if (!r.ok) throw new Error(n);
  const script = r.value.inputs.find((i) => i.id === "script");
  if (script) script.default = path.join(EX, "nifti-stats.mjs");
  return r.value;
});
const pr = parsePipelineText(readFileSync(path.join(EX, "dicom-stats.pipeline.yaml"), "utf8"));
if (!pr.ok) throw new Error("pipeline");
const analyzed = analyzePipeline(pr.value, toolCatalog(tools)).analyzed!;
const rows = readFileSync(path.join(SAMPLES_DIR, "MANIFEST.tsv"), "utf8").split("\n").slice(1).map((l) => l.split("\t")).filter((r) => ["CT", "MR"].includes(r[5] ?? ""));
const items: SourceItem[] = rows.map((r, i) => ({ key: ["S", "E", `SCAN${i}`], ref: r[0] }));
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const recs = await runPlanned(analyzed, planRun(analyzed, { series: items }), {
  executor: createLocalExecutor({ concurrency: C }),
  root: path.join(root, "dicom-stats"),
  stage: async (_s, item, dest) => {
    await mkdir(dest, { recursive: true });
    await copyFile(path.join(SAMPLES_DIR, item.ref as string), path.join(dest, "1.dcm"));
    return dest;
  },
});
const wall = (performance.now() - t0) / 1000;
const ok = recs.filter((r) => r.node === "stats" && r.state === "succeeded").length;
const jobWall = recs.reduce((s, r) => s + r.wallMs, 0) / 1000;
const self = process.cpuUsage(cpu0);
console.log(`dicom-stats over ${items.length} CT/MR sample series (concurrency ${C}): ${ok} converted and measured, ${items.length - ok} failed (dcm2niix cannot read them)`);
console.log(`  wall ${wall.toFixed(2)} s total, ${(wall / items.length).toFixed(3)} s per series; summed job time (incl. waiting for a slot) ${(jobWall / items.length).toFixed(3)} s per series; Atrium's own CPU ${((self.user + self.system) / 1e6 / items.length).toFixed(3)} s per series`);
for (const r of recs.filter((x) => x.state !== "succeeded" && x.node === "convert")) console.log(`  ${r.key}: ${r.reason}`);
rmSync(root, { recursive: true, force: true });
