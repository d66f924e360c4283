// Starts `atrium start` as a real process (the way `npm start` does) and stops it with SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { freePort } from "../../lib/net";

export { freePort };
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");

export interface AtriumProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** Starts Atrium; `env` replaces the variables it names (undefined removes one). */
export async function startAtrium(env: Record<string, string | undefined>, opts: { timeoutMs?: number } = {}): Promise<AtriumProcess> {
  const port = Number(env.PORT ?? (await freePort()));
  const { child, output } = spawnStart({ ...env, PORT: String(port) });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://localhost:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`atrium start exited with ${child.exitCode}:\n${output()}`);
    try {
      const r = await fetch(`${url}/api/health`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`atrium start did not become healthy in time:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    port,
    child,
    output,
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs `atrium start` expecting it to fail; resolves with its exit code and output. */
export async function startAtriumExpectingFailure(env: Record<string, string | undefined>) {
  const { child, output } = spawnStart(env);
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, output: output() };
}

/** `atrium start` in a child process, in a clean environment plus `env` (undefined removes a variable). */
function spawnStart(env: Record<string, string | undefined>) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: "development", ATRIUM_LOG_LEVEL: "info", NEXT_TELEMETRY_DISABLED: "1", ATRIUM_DICOM_PORT: "0" };
  for (const k of ["DATABASE_URL", "ATRIUM_OIDC_ISSUER", "ATRIUM_OIDC_CLIENT_ID", "ATRIUM_OIDC_CLIENT_SECRET", "NEXTAUTH_URL", "NEXTAUTH_SECRET", "VITEST", "VITEST_POOL_ID", "VITEST_WORKER_ID"]) delete childEnv[k];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  const child = spawn(process.execPath, [path.join(ROOT, "bin", "atrium.mjs"), "start"], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return { child, output: () => out };
}

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `atrium worker [args]` (needs DATABASE_URL in `env`); resolves once it says it is running. */
export async function startAtriumWorker(env: Record<string, string | undefined>, args: string[] = []): Promise<WorkerProcess> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ATRIUM_LOG_LEVEL: "warn", NEXTAUTH_SECRET: "worker-test-secret-of-enough-length" };
  for (const k of ["VITEST", "VITEST_POOL_ID", "VITEST_WORKER_ID"]) delete childEnv[k];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  const child = spawn(process.execPath, [path.join(ROOT, "bin", "atrium.mjs"), "worker", ...args], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null))));
  const deadline = Date.now() + 60_000;
  while (!out.includes("atrium worker: running")) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`atrium worker exited:\n${out}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`atrium worker did not start in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    output: () => out,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}
