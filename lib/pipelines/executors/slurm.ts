// The SLURM executor: sbatch to submit, one shared squeue poll per executor for every job being
// waited for, then sacct (when the cluster has accounting) or scontrol for the final state, exit
// code, times, host and MaxRSS. It keeps nothing in memory that wait() needs: a worker restarted
// after kill -9 re-attaches with the SubmittedJob alone.
import { writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Executor, ExecutorCheck, JobOutcome, JobSpec, SubmittedJob } from "./types";
import { runCommand } from "@/lib/process";
import {
  SACCT_FORMAT,
  SQUEUE_FORMAT,
  formatMemory,
  formatWallTime,
  isEndState,
  mapEndState,
  parseExitCode,
  parseMemoryKb,
  parseSacct,
  parseScontrolJob,
  parseSbatchParsable,
  parseSlurmTime,
  parseSqueue,
  wrapperScript,
} from "./slurm-parse";

export type SlurmExecutorOptions = {
  /** slurm.conf of the cluster (default: SLURM_CONF from the environment, else SLURM's own default). */
  conf?: string;
  /** Partition to submit to (default ATRIUM_SLURM_PARTITION, else the cluster's default partition). */
  partition?: string;
  /** How often the shared squeue poll runs (default 1000 ms; ATRIUM_SLURM_POLL_MS). */
  pollMs?: number;
  /** Extra sbatch arguments (e.g. --account=…), also from ATRIUM_SLURM_SBATCH_ARGS (space separated). */
  sbatchArgs?: string[];
  env?: NodeJS.ProcessEnv;
};

export const SLURM_HOWTO = "run scripts/slurm-dev.sh start for a local one-node cluster, or set SLURM_CONF to your cluster's slurm.conf";

type Waiter = { id: string; resolve: (o: JobOutcome) => void; reject: (e: unknown) => void };

export function slurmExecutor(options: SlurmExecutorOptions = {}): Executor & { submitHost: string } {
  const baseEnv = options.env ?? process.env;
  const conf = options.conf ?? baseEnv.SLURM_CONF;
  const env: NodeJS.ProcessEnv = conf ? { ...baseEnv, SLURM_CONF: conf } : { ...baseEnv };
  const partition = options.partition ?? baseEnv.ATRIUM_SLURM_PARTITION;
  const pollMs = options.pollMs ?? (Number(baseEnv.ATRIUM_SLURM_POLL_MS) || 1000);
  const sbatchArgs = options.sbatchArgs ?? (baseEnv.ATRIUM_SLURM_SBATCH_ARGS ?? "").split(/\s+/).filter(Boolean);
  const submitHost = os.hostname();
  const run = (cmd: string, args: string[]) => runCommand(cmd, args, { env, timeoutMs: 60_000 });

  const waiters = new Map<string, Set<Waiter>>();
  let timer: NodeJS.Timeout | null = null;
  let polling = false;
  let accounting: boolean | null = null;

  async function finalOutcome(id: string, row?: { state: string; host: string | null; start: Date | null; end: Date | null }): Promise<JobOutcome> {
    if (accounting !== false) {
      const r = await run("sacct", ["-n", "-P", "-j", id, "-o", SACCT_FORMAT]);
      if (/accounting storage is disabled/i.test(r.stderr + r.stdout)) accounting = false;
      else if (r.code === 0) {
        accounting = true;
        const s = parseSacct(r.stdout, id);
        if (s && isEndState(s.state)) {
          const exitCode = parseExitCode(s.exitCode);
          const m = mapEndState(s.state, exitCode, id);
          return { ...m, exitCode, startedAt: parseSlurmTime(s.start), endedAt: parseSlurmTime(s.end) ?? new Date(), host: s.host && s.host !== "None assigned" ? s.host : "", peakMemoryKb: parseMemoryKb(s.maxRss) };
        }
      }
    }
    const r = await run("scontrol", ["-o", "show", "job", id]);
    if (r.code === 0) {
      const j = parseScontrolJob(r.stdout);
      const exitCode = parseExitCode(j.ExitCode);
      const m = mapEndState(j.JobState ?? row?.state ?? "", exitCode, id);
      return { ...m, exitCode, startedAt: parseSlurmTime(j.StartTime), endedAt: parseSlurmTime(j.EndTime) ?? new Date(), host: j.BatchHost && j.BatchHost !== "(null)" ? j.BatchHost : (row?.host ?? ""), peakMemoryKb: null };
    }
    if (row) {
      const m = mapEndState(row.state, null, id);
      return { ...m, exitCode: null, startedAt: row.start, endedAt: row.end ?? new Date(), host: row.host ?? "", peakMemoryKb: null };
    }
    return {
      state: "failed",
      exitCode: null,
      startedAt: null,
      endedAt: new Date(),
      host: "",
      peakMemoryKb: null,
      reason: `SLURM no longer knows job ${id} and keeps no accounting of it (scontrol: ${(r.stderr || r.error || "").trim().split("\n")[0]})`,
    };
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const ids = [...waiters.keys()];
      if (!ids.length) return;
      const r = await run("squeue", ["-h", "--states=all", "-j", ids.join(","), "-o", SQUEUE_FORMAT]);
      if (r.code !== 0 && !/Invalid job id/i.test(r.stderr)) {
        // The controller may be restarting: keep waiting, the next poll tries again.
        return;
      }
      const rows = new Map(parseSqueue(r.code === 0 ? r.stdout : "").map((row) => [row.id, row]));
      await Promise.all(
        ids.map(async (id) => {
          const row = rows.get(id);
          if (row && !isEndState(row.state)) return;
          const set = waiters.get(id);
          if (!set) return;
          waiters.delete(id);
          try {
            const outcome = await finalOutcome(id, row);
            for (const w of set) w.resolve(outcome);
          } catch (e) {
            for (const w of set) w.reject(e);
          }
        }),
      );
    } finally {
      polling = false;
      schedule();
    }
  }

  function schedule() {
    if (timer || waiters.size === 0) return;
    timer = setTimeout(() => {
      timer = null;
      void poll();
    }, pollMs);
  }

  return {
    name: "slurm",
    submitHost,

    async check(): Promise<ExecutorCheck> {
      const r = await runCommand("sinfo", ["-h", "-o", "%P %a %D %t"], { env, timeoutMs: 20_000 });
      if (r.error) return { ok: false, reason: `SLURM's commands are not installed here (${r.error}): ${SLURM_HOWTO}.` };
      if (r.code !== 0) {
        const why = (r.stderr.trim().split("\n").find((l) => /error/i.test(l)) ?? r.stderr.trim().split("\n")[0] ?? "").replace(/^sinfo: (error: )?/, "");
        return { ok: false, reason: `SLURM's controller does not answer${conf ? ` (SLURM_CONF=${conf})` : ""}: ${why || `sinfo exited with ${r.code}`}; ${SLURM_HOWTO}.` };
      }
      const lines = r.stdout.trim().split("\n").filter(Boolean);
      return { ok: true, detail: `SLURM answers: ${lines.join("; ")}` };
    },

    async submit(spec: JobSpec): Promise<SubmittedJob> {
      await mkdir(spec.workDir, { recursive: true });
      await mkdir(path.dirname(spec.logPath), { recursive: true });
      const script = path.join(spec.workDir, `.atrium-slurm-${spec.jobId.replace(/[^\w.-]/g, "_")}.sh`);
      await writeFile(script, wrapperScript(spec.command, spec.workDir, spec.env ?? {}), { mode: 0o755 });
      const args = [
        "--parsable",
        `--job-name=atrium-${spec.jobId}`,
        "--nodes=1",
        "--ntasks=1",
        `--cpus-per-task=${Math.max(1, Math.ceil(spec.cores))}`,
        `--mem=${formatMemory(spec.memoryMb)}`,
        `--time=${formatWallTime(spec.wallTimeSeconds)}`,
        `--output=${spec.logPath}`,
        `--error=${spec.logPath}`,
        "--open-mode=truncate",
        `--chdir=${spec.workDir}`,
        ...(partition ? [`--partition=${partition}`] : []),
        ...sbatchArgs,
        script,
      ];
      const r = await run("sbatch", args);
      if (r.code !== 0) throw new Error(`sbatch refused job ${spec.jobId}: ${(r.error ?? r.stderr).trim().split("\n")[0]}`);
      return { executor: "slurm", externalId: parseSbatchParsable(r.stdout), host: submitHost };
    },

    wait(job: SubmittedJob, _spec: JobSpec, signal?: AbortSignal): Promise<JobOutcome> {
      return new Promise<JobOutcome>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const id = job.externalId;
        const w: Waiter = { id, resolve, reject };
        const onAbort = () => {
          waiters.get(id)?.delete(w);
          if (waiters.get(id)?.size === 0) waiters.delete(id);
          reject(signal?.reason);
        };
        w.resolve = (o) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(o);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        let set = waiters.get(id);
        if (!set) waiters.set(id, (set = new Set()));
        set.add(w);
        schedule();
      });
    },

    async cancel(job: SubmittedJob): Promise<void> {
      const r = await run("scancel", ["--full", job.externalId]);
      if (r.code !== 0 && !/Invalid job id|already completing or completed|Job\/step already completing/i.test(r.stderr)) {
        throw new Error(`scancel ${job.externalId} failed: ${(r.error ?? r.stderr).trim().split("\n")[0]}`);
      }
    },
  };
}
