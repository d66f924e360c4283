// Finds Redis for `atrium start`: REDIS_URL if something answers there; otherwise a private
// redis-server under the data directory (if one is on the PATH); otherwise one clear error.
// The private server's pid and port are kept in <data dir>/redis/atrium-redis.json while it runs:
// after a kill -9 of Atrium (which leaves its redis-server running, holding the append-only file),
// the next start finds it there and reuses it — its queued jobs included — or stops it when it no
// longer answers, so there is never a second server on the same files nor a stray process.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync, renameSync } from "node:fs";
import path from "node:path";
import { freePort } from "@/lib/net";
import { pingRedis } from "@/server/redis";
import { childLog } from "@/lib/log";
import { processAlive } from "@/lib/process";

const log = childLog("launch");

export class RedisUnavailableError extends Error {}

function redisServerOnPath(): string | null {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "redis-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export interface RedisForLaunch {
  url: string;
  child: ChildProcess | null;
  stop(): Promise<void>;
}

const STATE_FILE = "atrium-redis.json";

/**
 * Is `pid` a redis-server working in `dir`? On Linux from /proc (its name and working directory,
 * which redis-server sets to --dir); elsewhere a live pid from our own state file is taken as ours.
 */
function isOurRedis(pid: number, dir: string): boolean {
  if (!processAlive(pid)) return false;
  if (process.platform !== "linux") return true;
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "redis-server" && readlinkSync(`/proc/${pid}/cwd`) === path.resolve(dir);
  } catch {
    return false;
  }
}

async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (processAlive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}

interface RedisState {
  pid: number;
  port: number;
}

function readState(dir: string): RedisState | null {
  try {
    const s = JSON.parse(readFileSync(path.join(dir, STATE_FILE), "utf8")) as Partial<RedisState>;
    return Number.isInteger(s.pid) && Number.isInteger(s.port) && s.pid! > 1 ? (s as RedisState) : null;
  } catch {
    return null;
  }
}

function writeState(dir: string, state: RedisState): void {
  const tmp = path.join(dir, `${STATE_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(state)}\n`);
  renameSync(tmp, path.join(dir, STATE_FILE));
}

function clearState(dir: string, pid: number): void {
  if (readState(dir)?.pid === pid) rmSync(path.join(dir, STATE_FILE), { force: true });
}

/**
 * The private redis-server an earlier start left running (Atrium was killed), when it still
 * answers; one that does not answer is stopped. Null when there is none.
 */
async function adoptLeftover(dir: string): Promise<RedisForLaunch | null> {
  const state = readState(dir);
  if (!state) return null;
  if (!isOurRedis(state.pid, dir)) {
    rmSync(path.join(dir, STATE_FILE), { force: true });
    return null;
  }
  const url = `redis://127.0.0.1:${state.port}`;
  if (!(await pingRedis(url, 1000))) {
    log.warn({ pid: state.pid }, "stopping the private redis-server left by an earlier start: it does not answer");
    await stopPid(state.pid);
    clearState(dir, state.pid);
    return null;
  }
  log.info({ pid: state.pid, port: state.port }, "reusing the private redis-server left running by an earlier start");
  return {
    url,
    child: null,
    stop: async () => {
      await stopPid(state.pid);
      clearState(dir, state.pid);
    },
  };
}

export async function ensureRedis(url: string, dataDir: string): Promise<RedisForLaunch> {
  if (await pingRedis(url)) return { url, child: null, stop: async () => undefined };
  const dir = path.join(dataDir, "redis");
  const leftover = await adoptLeftover(dir);
  if (leftover) return leftover;
  const bin = redisServerOnPath();
  if (!bin) {
    throw new RedisUnavailableError(
      `No Redis answers at ${url} and redis-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL to a running Redis.`,
    );
  }
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  // appendonly: queued jobs survive a restart of the private server, as they would on a real one.
  const child = spawn(
    bin,
    ["--bind", "127.0.0.1", "--port", String(port), "--dir", dir, "--appendonly", "yes", "--save", "", "--daemonize", "no"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const privateUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    if (child.exitCode !== null) break;
    if (await pingRedis(privateUrl, 300)) {
      log.info({ port, dir }, "started a private redis-server (nothing answered at REDIS_URL)");
      writeState(dir, { pid: child.pid!, port });
      return {
        url: privateUrl,
        child,
        stop: async () => {
          await new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          });
          clearState(dir, child.pid!);
        },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new RedisUnavailableError(
    `No Redis answers at ${url}, and the private redis-server under ${dir} did not start. Start Redis yourself and set REDIS_URL.`,
  );
}
