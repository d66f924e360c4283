// The pure parts of the SLURM executor: formatting resources for sbatch, parsing what sbatch,
// squeue, scontrol and sacct print, and mapping SLURM job states onto Atrium's JobEndState.
import type { JobEndState } from "./types";
import { shellQuote } from "./process";

/** sbatch's --time for a wall time in seconds: whole minutes (SLURM's granularity), rounded up, at least 1. */
export function formatWallTime(seconds: number): string {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  const hm = `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:00`;
  return d > 0 ? `${d}-${hm}` : hm;
}

/** sbatch's --mem for megabytes. */
export function formatMemory(mb: number): string {
  return `${Math.max(1, Math.ceil(mb))}M`;
}

/** The job id from `sbatch --parsable` ("123" or "123;cluster"). */
export function parseSbatchParsable(out: string): string {
  const line = out.trim().split("\n").pop() ?? "";
  const id = line.split(";")[0].trim();
  if (!/^\d+(_\d+)?$/.test(id)) throw new Error(`sbatch printed no job id: ${JSON.stringify(out.trim().slice(0, 200))}`);
  return id;
}

export const SQUEUE_FORMAT = "%i|%T|%r|%B|%S|%e";

export type SqueueRow = { id: string; state: string; reason: string; host: string | null; start: Date | null; end: Date | null };

/** A SLURM timestamp (2026-12-05T04:51:52, local time of the controller) or null for N/A, None, Unknown. */
export function parseSlurmTime(s: string | undefined): Date | null {
  if (!s || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(s)) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Rows of `squeue -h --states=all -o '%i|%T|%r|%B|%S|%e'`. */
export function parseSqueue(out: string): SqueueRow[] {
  return out
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [id, state, reason, host, start, end] = l.split("|");
      return { id, state: baseState(state), reason: reason ?? "", host: host && host !== "n/a" && host !== "(null)" ? host : null, start: parseSlurmTime(start), end: parseSlurmTime(end) };
    });
}

/** `scontrol -o show job ID` as key → value (values may hold spaces only for the last keys we don't use). */
export function parseScontrolJob(out: string): Record<string, string> {
  const line = out.trim().split("\n")[0] ?? "";
  const rec: Record<string, string> = {};
  for (const m of line.matchAll(/(?:^|\s)([A-Za-z][\w/:]*)=(\S*)/g)) rec[m[1]] = m[2];
  return rec;
}

/** "3:0" (exit code:signal) → exit code; a signal gives 128+signal as a shell would. */
export function parseExitCode(s: string | undefined): number | null {
  const m = /^(\d+):(\d+)$/.exec(s ?? "");
  if (!m) return null;
  return Number(m[2]) > 0 ? 128 + Number(m[2]) : Number(m[1]);
}

/** sacct's MaxRSS ("1234K", "12M", "1.5G", "0") in KiB. */
export function parseMemoryKb(s: string | undefined): number | null {
  const m = /^([\d.]+)([KMGTP]?)$/i.exec((s ?? "").trim());
  if (!m) return null;
  const mult: Record<string, number> = { "": 1 / 1024, K: 1, M: 1024, G: 1024 ** 2, T: 1024 ** 3, P: 1024 ** 4 };
  return Math.round(Number(m[1]) * mult[m[2].toUpperCase()]);
}

export type SacctRow = { id: string; state: string; exitCode: string; start: string; end: string; host: string; maxRss: string };
export const SACCT_FORMAT = "JobID,State,ExitCode,Start,End,NodeList,MaxRSS";

/** `sacct -n -P -j ID -o JobID,State,ExitCode,Start,End,NodeList,MaxRSS`: the job's own row, with the largest MaxRSS of its steps. */
export function parseSacct(out: string, jobId: string): SacctRow | null {
  const rows = out
    .split("\n")
    .filter((l) => l.includes("|"))
    .map((l) => {
      const [id, state, exitCode, start, end, host, maxRss] = l.split("|");
      return { id, state, exitCode, start, end, host, maxRss };
    });
  const main = rows.find((r) => r.id === jobId);
  if (!main) return null;
  const rss = rows.map((r) => parseMemoryKb(r.maxRss)).filter((n): n is number => n !== null);
  return { ...main, maxRss: rss.length ? `${Math.max(...rss)}K` : "" };
}

/** "CANCELLED by 0" → "CANCELLED"; "COMPLETING" stays. */
export function baseState(s: string | undefined): string {
  return (s ?? "").trim().split(/\s+/)[0].replace(/\+$/, "").toUpperCase();
}

const PENDING_OR_RUNNING = new Set(["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "SPECIAL_EXIT"]);

/** Has SLURM finished with this job (state as squeue/scontrol/sacct print it)? */
export function isEndState(state: string): boolean {
  const s = baseState(state);
  return s !== "" && !PENDING_OR_RUNNING.has(s);
}

/** A final SLURM state → Atrium's end state and the one-line reason (null for success). */
export function mapEndState(state: string, exitCode: number | null, jobId: string): { state: JobEndState; reason: string | null } {
  const s = baseState(state);
  switch (s) {
    case "COMPLETED":
      return exitCode && exitCode !== 0 ? { state: "failed", reason: `exited with code ${exitCode}` } : { state: "succeeded", reason: null };
    case "TIMEOUT":
    case "DEADLINE":
      return { state: "timed_out", reason: `SLURM job ${jobId} ran past its wall time and was killed (${s})` };
    case "CANCELLED":
    case "REVOKED":
      return { state: "cancelled", reason: `SLURM job ${jobId} was cancelled` };
    case "OUT_OF_MEMORY":
      return { state: "out_of_memory", reason: `SLURM job ${jobId} ran out of its memory limit` };
    case "NODE_FAIL":
      return { state: "failed", reason: `the node running SLURM job ${jobId} failed (NODE_FAIL)` };
    case "BOOT_FAIL":
      return { state: "failed", reason: `the node for SLURM job ${jobId} did not boot (BOOT_FAIL)` };
    case "PREEMPTED":
      return { state: "failed", reason: `SLURM job ${jobId} was preempted` };
    case "FAILED":
      return { state: "failed", reason: exitCode !== null ? `exited with code ${exitCode}` : `SLURM job ${jobId} failed` };
    default:
      return { state: "failed", reason: `SLURM job ${jobId} ended in state ${s || "unknown"}` };
  }
}

/** The batch script that runs argv in workDir with env, its output going where sbatch's --output says. */
export function wrapperScript(command: string[], workDir: string, env: Record<string, string> = {}): string {
  const lines = ["#!/bin/sh", "# Written by Atrium's SLURM executor.", `cd ${shellQuote(workDir)} || exit 127`];
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
    lines.push(`export ${k}=${shellQuote(v)}`);
  }
  lines.push(`exec ${command.map(shellQuote).join(" ")}`);
  return lines.join("\n") + "\n";
}
