// The SLURM executor against a real one-node cluster (slurm-wlm + munge from Debian), started by
// this file with scripts/slurm-dev.sh in a directory of its own and stopped at the end.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { slurmExecutor } from "../../lib/pipelines/executors/slurm";
import type { JobOutcome, JobSpec, SubmittedJob } from "../../lib/pipelines/executors/types";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const SCRIPT = path.join(ROOT, "scripts", "slurm-dev.sh");
const base = mkdtempSync(path.join(tmpdir(), "atrium-slurm-test-"));
const devDir = path.join(base, "cluster");
const conf = path.join(devDir, "slurm.conf");
const env = { ...process.env, SLURM_CONF: conf };
const dev = (cmd: string) => spawnSync("bash", [SCRIPT, cmd], { encoding: "utf8", env: { ...process.env, SLURM_DEV_DIR: devDir } });

let n = 0;
function spec(command: string[], more: Partial<JobSpec> = {}): JobSpec {
  const jobId = `t${process.pid}-${++n}`;
  const workDir = path.join(base, "work", jobId);
  return { jobId, command, workDir, logPath: path.join(workDir, "job.log"), cores: 1, memoryMb: 64, wallTimeSeconds: 60, ...more };
}
const squeue = (args: string[]) => spawnSync("squeue", ["-h", ...args], { encoding: "utf8", env }).stdout.trim();

let timeoutJob: { job: SubmittedJob; outcome: Promise<JobOutcome> };

beforeAll(async () => {
  const r = dev("start");
  expect(r.status, r.stderr + r.stdout).toBe(0);
  expect(r.stdout).toContain(`SLURM_CONF=${conf}`);
  // The wall-time test needs SLURM's minimum (1 minute) to pass: start it first, await it last.
  const ex = slurmExecutor({ conf, pollMs: 500 });
  const s = spec(["sleep", "300"], { wallTimeSeconds: 1 });
  const job = await ex.submit(s);
  timeoutJob = { job, outcome: ex.wait(job, s) };
}, 120_000);

afterAll(() => {
  const r = dev("stop");
  expect(r.status).toBe(0);
  expect(dev("status").status).not.toBe(0);
  rmSync(base, { recursive: true, force: true });
});

describe("SLURM executor on a real one-node cluster", () => {
  it("slurm-dev.sh start again reuses the running cluster; status says what runs", () => {
    const r = dev("start");
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("already running");
    const s = dev("status");
    expect(s.status).toBe(0);
    expect(s.stdout).toMatch(/slurmctld: running \(pid \d+\)/);
    expect(s.stdout).toMatch(/idle|mix|alloc/);
  });

  it("check() says SLURM answers", async () => {
    const c = await slurmExecutor({ conf }).check();
    expect(c.ok).toBe(true);
  });

  it("a job that writes output and a log succeeds with exit code, host and timings", async () => {
    const ex = slurmExecutor({ conf, pollMs: 300 });
    const s = spec(["sh", "-c", 'echo "$GREETING, it\'s $0" > result.txt; echo to-log; echo to-err >&2', "quoted arg"], { env: { GREETING: "hello world" } });
    const job = await ex.submit(s);
    expect(job.executor).toBe("slurm");
    expect(job.externalId).toMatch(/^\d+$/);
    const o = await ex.wait(job, s);
    expect(o.state).toBe("succeeded");
    expect(o.exitCode).toBe(0);
    expect(o.reason).toBeNull();
    expect(o.host).toBe(spawnSync("hostname", ["-s"], { encoding: "utf8" }).stdout.trim());
    expect(o.startedAt).toBeInstanceOf(Date);
    expect(o.endedAt.getTime()).toBeGreaterThanOrEqual(o.startedAt!.getTime());
    expect(readFileSync(path.join(s.workDir, "result.txt"), "utf8")).toBe("hello world, it's quoted arg\n");
    const log = readFileSync(s.logPath, "utf8");
    expect(log).toContain("to-log");
    expect(log).toContain("to-err");
    expect(squeue(["-j", job.externalId, "--states=all", "-o", "%j"])).toBe(`atrium-${s.jobId}`);
  });

  it("a failing job is failed with its exit code", async () => {
    const ex = slurmExecutor({ conf, pollMs: 300 });
    const s = spec(["sh", "-c", "echo boom >&2; exit 7"]);
    const o = await ex.wait(await ex.submit(s), s);
    expect(o.state).toBe("failed");
    expect(o.exitCode).toBe(7);
    expect(o.reason).toContain("7");
    expect(readFileSync(s.logPath, "utf8")).toContain("boom");
  });

  it("cancel() scancels: cancelled, and the process is gone", async () => {
    const ex = slurmExecutor({ conf, pollMs: 300 });
    const marker = `atrium-cancel-${process.pid}`;
    const s = spec(["bash", "-c", `exec -a ${marker} sleep 300`]);
    const job = await ex.submit(s);
    const outcome = ex.wait(job, s);
    for (let i = 0; i < 100 && spawnSync("pgrep", ["-f", marker]).status !== 0; i++) await new Promise((r) => setTimeout(r, 200));
    expect(spawnSync("pgrep", ["-f", marker]).status).toBe(0);
    await ex.cancel(job);
    await ex.cancel(job); // idempotent
    const o = await outcome;
    expect(o.state).toBe("cancelled");
    for (let i = 0; i < 50 && spawnSync("pgrep", ["-f", marker]).status === 0; i++) await new Promise((r) => setTimeout(r, 200));
    expect(spawnSync("pgrep", ["-f", marker]).status).toBe(1);
  });

  it("re-attach: a job submitted by a process killed with -9 is waited for by a new executor, never submitted twice", async () => {
    const s = spec(["sh", "-c", "sleep 3; echo done > result.txt"]);
    const child = spawn(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "slurm-submit-child.ts"), JSON.stringify(s)], { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = "";
      child.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        if (buf.includes("\n")) resolve(buf.split("\n")[0]);
      });
      child.once("exit", (code) => reject(new Error(`child exited with ${code} before submitting`)));
    });
    const job = JSON.parse(line) as SubmittedJob;
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const o = await slurmExecutor({ conf, pollMs: 300 }).wait(job, s);
    expect(o.state).toBe("succeeded");
    expect(readFileSync(path.join(s.workDir, "result.txt"), "utf8")).toBe("done\n");
    expect(squeue(["--states=all", "-n", `atrium-${s.jobId}`, "-o", "%i"]).split("\n")).toEqual([job.externalId]);
  }, 60_000);

  it("a job past its wall time is timed_out", async () => {
    const o = await timeoutJob.outcome;
    expect(o.state).toBe("timed_out");
    expect(o.reason).toContain("wall time");
  }, 150_000);

  it("SLURM unreachable: check() gives one line that says how to configure it", async () => {
    const bogus = path.join(base, "nowhere.conf");
    const c = await slurmExecutor({ conf: bogus }).check();
    expect(c.ok).toBe(false);
    if (!c.ok) {
      expect(c.reason.split("\n")).toHaveLength(1);
      expect(c.reason).toContain("scripts/slurm-dev.sh start");
      expect(c.reason).toContain(bogus);
    }
    const none = await slurmExecutor({ env: { ...process.env, PATH: "/nonexistent" } }).check();
    expect(none.ok).toBe(false);
    if (!none.ok) expect(none.reason).toContain("not installed");
    expect(existsSync(conf)).toBe(true);
  });
});
