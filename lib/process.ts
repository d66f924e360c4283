// Operating-system processes: whether one is alive, and running a command to collect its output (no shell).
import { spawn } from "node:child_process";

/** Whether a process with this pid exists (one we may not signal, EPERM, exists too). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export type RunResult = { code: number | null; stdout: string; stderr: string; error?: string };

/** Runs `cmd args` (no shell) and resolves with its exit code and output; never rejects. */
export function runCommand(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; /** keep only the last this many characters of each stream */ maxOutputChars?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let settled = false;
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : null;
    const cap = (s: string) => (opts.maxOutputChars !== undefined && s.length > opts.maxOutputChars ? s.slice(-opts.maxOutputChars) : s);
    child.stdout.on("data", (d: Buffer) => (stdout = cap(stdout + d.toString())));
    child.stderr.on("data", (d: Buffer) => (stderr = cap(stderr + d.toString())));
    const done = (r: RunResult) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve(r);
    };
    child.once("error", (e: NodeJS.ErrnoException) => done({ code: null, stdout, stderr, error: e.code === "ENOENT" ? `${cmd} not found` : e.message }));
    child.once("close", (code) => done({ code, stdout, stderr }));
  });
}
