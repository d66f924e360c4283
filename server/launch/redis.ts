// Finds Redis for `atrium start`: REDIS_URL if something answers there; otherwise a private
// redis-server under the data directory (if one is on the PATH); otherwise one clear error.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdirSync } from "node:fs";
import path from "node:path";
import { freePort } from "@/lib/net";
import { pingRedis } from "@/server/redis";
import { childLog } from "@/lib/log";

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

export async function ensureRedis(url: string, dataDir: string): Promise<RedisForLaunch> {
  if (await pingRedis(url)) return { url, child: null, stop: async () => undefined };
  const bin = redisServerOnPath();
  if (!bin) {
    throw new RedisUnavailableError(
      `No Redis answers at ${url} and redis-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL to a running Redis.`,
    );
  }
  const dir = path.join(dataDir, "redis");
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
      return {
        url: privateUrl,
        child,
        stop: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new RedisUnavailableError(
    `No Redis answers at ${url}, and the private redis-server under ${dir} did not start. Start Redis yourself and set REDIS_URL.`,
  );
}
