// `npm start` after a kill -9: the private redis-server the killed Atrium started (server/launch/redis.ts)
// is found again by its pidfile and reused — same process, same port, its queued data intact — and
// stopped when Atrium stops; one whose process is gone or does not answer leaves nothing behind.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { ensureRedis } from "@/server/launch/redis";
import { freePort } from "@/lib/net";
import { waitFor } from "../helpers/wait";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const dirs: string[] = [];
const pids: number[] = [];
afterAll(() => {
  for (const d of dirs) pids.push(...redisServersIn(d));
  for (const p of pids) if (alive(p)) process.kill(p, "SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** redis-server processes working in this data directory's redis/ folder (Linux /proc). */
function redisServersIn(dataDir: string): number[] {
  const want = path.join(dataDir, "redis");
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, "utf8").trim() === "redis-server" && readlinkSync(`/proc/${d}/cwd`).replace(/ \(deleted\)$/, "") === want;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Runs ensureRedis in a child process as `atrium start` does, then kills that process with SIGKILL. */
async function startAndKill(dataDir: string, deadUrl: string): Promise<{ url: string }> {
  const code = `import { ensureRedis } from ${JSON.stringify(path.join(ROOT, "server", "launch", "redis.ts"))};
const r = await ensureRedis(${JSON.stringify(deadUrl)}, ${JSON.stringify(dataDir)});
console.log("URL " + r.url);
setInterval(() => undefined, 1000);`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ATRIUM_LOG_LEVEL: "warn" } });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  await waitFor("the private redis-server to start", () => out.includes("URL ") || child.exitCode !== null, { timeoutMs: 30_000, intervalMs: 50, detail: () => out });
  const url = /URL (\S+)/.exec(out)![1]!;
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  return { url };
}

describe("the private redis-server after a kill -9", () => {
  it("is reused by the next start (same process and port, data intact) and stopped by its stop()", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "atrium-redis-"));
    dirs.push(dataDir);
    const deadUrl = `redis://127.0.0.1:${await freePort()}`;
    const first = await startAndKill(dataDir, deadUrl);
    const left = redisServersIn(dataDir);
    expect(left, "the killed Atrium's redis-server outlives it").toHaveLength(1);
    pids.push(...left);
    const c = new Redis(first.url);
    await c.set("atrium:test:queued", "job-1");
    c.disconnect();

    const second = await ensureRedis(deadUrl, dataDir);
    expect(second.url).toBe(first.url);
    expect(redisServersIn(dataDir)).toEqual(left);
    const c2 = new Redis(second.url);
    expect(await c2.get("atrium:test:queued")).toBe("job-1");
    c2.disconnect();

    await second.stop();
    expect(alive(left[0]!)).toBe(false);
    expect(redisServersIn(dataDir)).toEqual([]);
    expect(existsSync(path.join(dataDir, "redis", "atrium-redis.json"))).toBe(false);

    // After a clean stop the next start starts a new one, on the same files.
    const third = await ensureRedis(deadUrl, dataDir);
    const c3 = new Redis(third.url);
    expect(await c3.get("atrium:test:queued")).toBe("job-1");
    c3.disconnect();
    await third.stop();
    expect(redisServersIn(dataDir)).toEqual([]);
  }, 60_000);

  it("ignores a pidfile whose process is gone, or that names another program, and starts its own", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "atrium-redis-"));
    dirs.push(dataDir);
    const deadUrl = `redis://127.0.0.1:${await freePort()}`;
    const stateFile = path.join(dataDir, "redis", "atrium-redis.json");
    const r0 = await ensureRedis(deadUrl, dataDir);
    await r0.stop();
    // A dead pid.
    const gone = spawnSync("true").pid!;
    writeFileSync(stateFile, JSON.stringify({ pid: gone, port: await freePort() }));
    const r1 = await ensureRedis(deadUrl, dataDir);
    expect(JSON.parse(readFileSync(stateFile, "utf8")).pid).not.toBe(gone);
    await r1.stop();
    // A live process that is not our redis-server (this test runner): never signalled.
    writeFileSync(stateFile, JSON.stringify({ pid: process.pid, port: await freePort() }));
    const r2 = await ensureRedis(deadUrl, dataDir);
    expect(new URL(r2.url).port).not.toBe("");
    await r2.stop();
    expect(redisServersIn(dataDir)).toEqual([]);
  }, 60_000);
});
