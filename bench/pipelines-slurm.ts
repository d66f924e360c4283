// SLURM executor throughput: N no-op jobs submitted and waited for through slurmExecutor (with a
// concurrency limit, as the compute worker runs them) against the baseline measured in the same
// run on the same cluster: a bare loop of `sbatch --wrap true` with the same resources, then
// polling squeue until every job has ended. Goal: executor jobs/s ≥ 0.8 × the bare loop.
//
// Starts its own one-node cluster with scripts/slurm-dev.sh (in a temp directory) and stops it.
// Run: npx tsx bench/pipelines-slurm.ts [--jobs 200] [--concurrency 32]
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { slurmExecutor } from "../lib/pipelines/executors/slurm";
import { runCommand } from "../lib/process";
import { isEndState, parseSqueue, SQUEUE_FORMAT } from "../lib/pipelines/executors/slurm-parse";
import type { JobSpec } from "../lib/pipelines/executors/types";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "200" }, concurrency: { type: "string", default: "32" } } });
const N = Number(values.jobs);
const C = Number(values.concurrency);
const ROOT = path.resolve(import.meta.dirname, "..");
const base = mkdtempSync(path.join(tmpdir(), "atrium-slurm-bench-"));
const devDir = path.join(base, "cluster");
const conf = path.join(devDir, "slurm.conf");
const env = { ...process.env, SLURM_CONF: conf };
const dev = (cmd: string) => spawnSync("bash", [path.join(ROOT, "scripts", "slurm-dev.sh"), cmd], { encoding: "utf8", env: { ...process.env, SLURM_DEV_DIR: devDir } });

async function bare(): Promise<number> {
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const r = await runCommand("sbatch", ["--parsable", `--job-name=bare-${i}`, "--cpus-per-task=1", "--mem=64M", "--time=00:01:00", `--output=${base}/bare-%j.log`, `--chdir=${base}`, "--wrap", "true"], { env });
    if (r.code !== 0) throw new Error(r.stderr);
    ids.push(r.stdout.trim().split(";")[0]);
  }
  const pending = new Set(ids);
  while (pending.size) {
    await new Promise((r) => setTimeout(r, 500));
    const r = await runCommand("squeue", ["-h", "--states=all", "-j", [...pending].join(","), "-o", SQUEUE_FORMAT], { env });
    for (const row of parseSqueue(r.stdout)) if (isEndState(row.state)) pending.delete(row.id);
  }
  return (performance.now() - t0) / 1000;
}

async function viaExecutor(): Promise<{ seconds: number; failed: number }> {
  const ex = slurmExecutor({ conf, pollMs: 500 });
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  async function lane() {
    while (next < N) {
      const i = next++;
      const workDir = path.join(base, "exec", String(i));
      const spec: JobSpec = { jobId: `bench-${i}`, command: ["true"], workDir, logPath: path.join(workDir, "job.log"), cores: 1, memoryMb: 64, wallTimeSeconds: 60 };
      const o = await ex.wait(await ex.submit(spec), spec);
      if (o.state !== "succeeded") failed++;
    }
  }
  await Promise.all(Array.from({ length: C }, lane));
  return { seconds: (performance.now() - t0) / 1000, failed };
}

const s = dev("start");
if (s.status !== 0) throw new Error(`slurm-dev.sh start failed: ${s.stderr}`);
try {
  const b = await bare();
  const e = await viaExecutor();
  const bareRate = N / b;
  const exRate = N / e.seconds;
  console.log(`SLURM, ${N} no-op jobs (one-node dev cluster, ${spawnSync("nproc", { encoding: "utf8" }).stdout.trim()} CPUs):`);
  console.log(`  bare sbatch --wrap loop + squeue wait: ${b.toFixed(1)} s, ${bareRate.toFixed(2)} jobs/s`);
  console.log(`  slurmExecutor submit+wait (concurrency ${C}): ${e.seconds.toFixed(1)} s, ${exRate.toFixed(2)} jobs/s, ${e.failed} not succeeded`);
  console.log(`  ratio executor/bare: ${(exRate / bareRate).toFixed(2)} (goal ≥ 0.8)`);
} finally {
  dev("stop");
  rmSync(base, { recursive: true, force: true });
}
