// The local executor: child processes on this machine, each in its own process group, stdout and
// stderr written straight to the job's log file (readable while it runs). A concurrency limit, a
// wall-time limit (the group is killed: timed_out), a memory limit (resident memory polled from
// /proc: out_of_memory), peak memory from /proc (VmHWM, sampled while it runs). The command runs
// under a small `sh` wrapper that writes the exit code next to the log, so that a worker started
// after this one died can still learn how a job it did not start ended (wait() on a stored pid).
import { spawn } from "node:child_process";
import { openSync, closeSync, readFileSync, existsSync, mkdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import type { Executor, ExecutorCheck, JobOutcome, JobSpec, SubmittedJob } from "./types";
import { processAlive } from "@/lib/process";
import { SpawnHelper, type Spawned } from "./spawner";

export interface LocalExecutorOptions {
  /** Jobs running at once (default: the number of cores). */
  concurrency?: number;
  /** How often /proc is sampled for memory (ms). */
  pollMs?: number;
  /** Start processes from a small helper process (default true; spawner.ts). */
  spawnHelper?: boolean;
}

const exitFileOf = (spec: Pick<JobSpec, "logPath">) => `${spec.logPath}.exit`;

function killGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    /* gone */
  }
}

/** Resident and peak resident memory (KiB) of a process and its descendants, from /proc. */
export function memoryOfTree(pid: number): { rssKb: number; hwmKb: number } {
  let rssKb = 0;
  let hwmKb = 0;
  const seen = new Set<number>();
  const visit = (p: number) => {
    if (seen.has(p) || seen.size > 256) return;
    seen.add(p);
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      rssKb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      hwmKb += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const children = readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim();
      if (children) for (const c of children.split(/\s+/)) visit(Number(c));
    } catch {
      /* exited */
    }
  };
  visit(pid);
  return { rssKb, hwmKb };
}

class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire() {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  release() {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

interface Running {
  done: Promise<JobOutcome>;
  cancelled: boolean;
}

export function createLocalExecutor(options: LocalExecutorOptions = {}): Executor {
  const host = hostname();
  const slots = new Semaphore(Math.max(1, options.concurrency ?? 2));
  const pollMs = options.pollMs ?? 250;
  const running = new Map<string, Running>();

  // Forks from a small helper process rather than this (large) one: see spawner.ts.
  // The helper enforces the concurrency limit itself; this process's slots count only the jobs it spawns itself.
  const helper = options.spawnHelper === false ? null : new SpawnHelper(Math.max(1, options.concurrency ?? 2));

  /** Starts the wrapped command: through the helper when it works, else in this process. */
  async function start(spec: JobSpec, exitFile: string): Promise<Spawned & { slot: boolean }> {
    // sh exits with the command's status too, so that a job this process follows needs no read of the exit file.
    const args = ["-c", '"$@"; s=$?; echo $s > "$ATRIUM_EXIT_FILE"; exit $s', "atrium-job", ...spec.command];
    const own = { ...spec.env, ATRIUM_EXIT_FILE: exitFile, ATRIUM_JOB_ID: spec.jobId, ATRIUM_WORK_DIR: spec.workDir };
    if (helper?.usable) {
      try {
        // The helper sets these over the environment the worker had when it started (spawner.ts).
        return { ...(await helper.start({ file: "/bin/sh", args, cwd: spec.workDir, env: own, logPath: spec.logPath })), slot: false };
      } catch (e) {
        if (!(e as { helperGone?: boolean }).helperGone) throw e;
      }
    }
    await slots.acquire();
    let fd: number;
    try {
      fd = openSync(spec.logPath, "w");
    } catch (e) {
      slots.release();
      throw e;
    }
    try {
      // sh runs the command and records its exit status; `exec` is not used so that the status survives us.
      const child = spawn("/bin/sh", args, { cwd: spec.workDir, env: { ...process.env, ...own }, stdio: ["ignore", fd, fd], detached: true });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.on("exit", (code, signal) => resolve({ code, signal }));
      });
      const pid = await new Promise<number>((resolve, reject) => {
        if (child.pid) resolve(child.pid);
        child.on("error", reject);
      });
      return { pid, exited, slot: true };
    } catch (e) {
      slots.release();
      throw e;
    } finally {
      closeSync(fd);
    }
  }

  async function submit(spec: JobSpec): Promise<SubmittedJob> {
    mkdirSync(path.dirname(spec.logPath), { recursive: true });
    mkdirSync(spec.workDir, { recursive: true });
    const exitFile = exitFileOf(spec);
    const child = await start(spec, exitFile);
    const startedAt = new Date();
    const pid = child.pid;
    const externalId = String(pid);
    const entry: Running = { cancelled: false, done: null as unknown as Promise<JobOutcome> };
    entry.done = new Promise<JobOutcome>((resolve) => {
      let peakKb = 0;
      let ended: JobOutcome["state"] | null = null;
      let reason: string | null = null;
      const sample = () => {
        const m = memoryOfTree(pid);
        peakKb = Math.max(peakKb, m.hwmKb);
        if (!ended && m.rssKb > spec.memoryMb * 1024) {
          ended = "out_of_memory";
          reason = `Killed: used ${Math.round(m.rssKb / 1024)} MB, more than its ${spec.memoryMb} MB limit. Raise the tool's memoryMb.`;
          killGroup(pid, "SIGKILL");
        }
      };
      const poll = setInterval(sample, pollMs);
      const wall = setTimeout(() => {
        if (ended) return;
        ended = "timed_out";
        reason = `Killed after its wall-time limit of ${spec.wallTimeSeconds} s. Raise the tool's wallTimeSeconds if it needs longer.`;
        killGroup(pid, "SIGTERM");
        setTimeout(() => killGroup(pid, "SIGKILL"), 2000).unref();
      }, spec.wallTimeSeconds * 1000);
      void child.exited.then(async (ex) => {
        let { code, signal } = ex;
        if (ex.gone) {
          // The helper died while the job ran: follow the pid until it ends, then read its exit file.
          while (processAlive(pid) && !existsSync(exitFile)) await new Promise((r) => setTimeout(r, pollMs));
          code = null;
          signal = null;
        }
        clearInterval(poll);
        clearTimeout(wall);
        // Children left in the group go with it.
        killGroup(pid, "SIGKILL");
        if (child.slot) slots.release();
        // The entry stays until wait() takes the outcome: the job may end before its worker waits.
        let exitCode: number | null = code;
        // sh ended by a signal, or followed by pid: the status it wrote, if it could.
        if (code === null)
          try {
            const recorded = Number(readFileSync(exitFile, "utf8").trim());
            if (Number.isInteger(recorded)) exitCode = recorded;
          } catch {
            /* killed before it wrote */
          }
        if (entry.cancelled && !ended) {
          ended = "cancelled";
          reason = "Cancelled.";
        }
        let state = ended ?? (exitCode === 0 && !signal ? "succeeded" : "failed");
        if (!ended && exitCode === 127) reason = `The program "${spec.command[0]}" was not found on this host (exit 127): install it, or fix the tool's command.`;
        else if (!ended && state === "failed") reason = signal ? `Ended by signal ${signal}.` : `Exited with code ${exitCode}; see the job's log.`;
        if (exitCode !== 0 && exitCode !== null && exitCode >= 128 && ended) state = ended;
        resolve({ state, exitCode: ended ? exitCode : exitCode, startedAt, endedAt: new Date(), host, peakMemoryKb: peakKb || null, reason: state === "succeeded" ? null : reason });
      });
    });
    running.set(externalId, entry);
    return { executor: "local", externalId, host };
  }

  async function wait(job: SubmittedJob, spec: JobSpec, signal?: AbortSignal): Promise<JobOutcome> {
    const mine = running.get(job.externalId);
    if (mine) {
      void mine.done.then(() => running.delete(job.externalId));
      if (!signal) return mine.done;
      return Promise.race([
        mine.done,
        new Promise<JobOutcome>((_r, reject) => signal.addEventListener("abort", () => reject(signal.reason ?? new Error("aborted")), { once: true })),
      ]);
    }
    // Started by another (earlier) process: poll the pid, then read the exit file.
    const pid = Number(job.externalId);
    if (job.host !== host) return { state: "failed", exitCode: null, startedAt: null, endedAt: new Date(), host: job.host, peakMemoryKb: null, reason: `The job ran on ${job.host}; a local job can only be followed on its own host.` };
    while (Number.isInteger(pid) && processAlive(pid) && !existsSync(exitFileOf(spec))) {
      if (signal?.aborted) throw signal.reason ?? new Error("aborted");
      await new Promise((r) => setTimeout(r, pollMs));
    }
    const text = await readFile(exitFileOf(spec), "utf8").catch(() => null);
    const exitCode = text === null ? null : Number(text.trim());
    if (exitCode === null) return { state: "failed", exitCode: null, startedAt: null, endedAt: new Date(), host, peakMemoryKb: null, reason: "The worker running this job stopped and the job ended without recording its exit status; re-run it." };
    return { state: exitCode === 0 ? "succeeded" : "failed", exitCode, startedAt: null, endedAt: new Date(), host, peakMemoryKb: null, reason: exitCode === 0 ? null : `Exited with code ${exitCode}; see the job's log.` };
  }

  async function cancel(job: SubmittedJob): Promise<void> {
    const pid = Number(job.externalId);
    if (!Number.isInteger(pid) || pid <= 1) return;
    const mine = running.get(job.externalId);
    if (mine) mine.cancelled = true;
    killGroup(pid, "SIGTERM");
    setTimeout(() => killGroup(pid, "SIGKILL"), 2000).unref();
  }

  async function check(): Promise<ExecutorCheck> {
    return existsSync("/bin/sh") ? { ok: true, detail: `local processes on ${host}, ${options.concurrency ?? 2} at once` } : { ok: false, reason: "/bin/sh is missing on this host." };
  }

  return { name: "local", check, submit, wait, cancel };
}
