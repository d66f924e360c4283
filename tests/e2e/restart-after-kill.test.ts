// `npm start` after a kill -9: the same data directory, ports and private redis-server come back
// cleanly — the embedded database opens (PGlite's own lock file is not in the way), the portal and
// DICOM ports are free again, and the private redis-server the killed process left running is
// reused (found by its pidfile), not doubled; a graceful stop then leaves no process behind.
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, startAtrium, type AtriumProcess } from "../helpers/atrium-process";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-kill9-"));
const prefix = `atrium-kill9-${process.pid}`;
let running: AtriumProcess | null = null;

/** redis-server processes working in the data directory's redis/ folder (Linux /proc). */
function privateRedis(): number[] {
  const want = path.join(dataDir, "redis");
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, "utf8").trim() === "redis-server" && readlinkSync(`/proc/${d}/cwd`) === want;
      } catch {
        return false;
      }
    })
    .map(Number);
}

afterAll(async () => {
  await running?.stop();
  for (const pid of privateRedis()) process.kill(pid, "SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("npm start after a kill -9", () => {
  it("starts again on the same data, ports and private redis-server, and a graceful stop leaves nothing running", async () => {
    const port = await freePort();
    const dicomPort = await freePort();
    const env = {
      ATRIUM_DATA_DIR: dataDir,
      ATRIUM_QUEUE_PREFIX: prefix,
      DATABASE_URL: undefined,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      PORT: String(port),
      ATRIUM_DICOM_PORT: String(dicomPort),
    };
    running = await startAtrium(env);
    expect(running.output()).toContain("started a private redis-server");
    const redis = privateRedis();
    expect(redis).toHaveLength(1);
    const first = running;
    first.child.kill("SIGKILL");
    await new Promise((r) => first.child.once("exit", r));
    running = null;
    expect(privateRedis(), "the killed process's redis-server is still running").toEqual(redis);

    running = await startAtrium(env);
    expect(running.output()).toContain("reusing the private redis-server left running by an earlier start");
    expect(running.output()).toContain(`DICOM: port ${dicomPort}`);
    expect(privateRedis()).toEqual(redis);
    const health = (await (await fetch(`${running.url}/api/health`)).json()) as Record<string, { ok: boolean; detail?: string }>;
    expect(health.database).toMatchObject({ ok: true, detail: "pglite" });
    expect(health.redis!.ok).toBe(true);

    expect(await running.stop()).toBe(0);
    running = null;
    expect(privateRedis()).toEqual([]);
    expect(existsSync(path.join(dataDir, "redis", "atrium-redis.json"))).toBe(false);
  }, 240_000);
});
