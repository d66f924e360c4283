// What /api/health reports: can we reach the database and Redis, and do workers take jobs.
import { dbHandle } from "@/server/db";
import { sharedRedis } from "@/server/redis";
import { getQueue } from "@/server/queues";
import { childLog } from "@/lib/log";

const log = childLog("health");

class NoAnswer extends Error {}

export interface ComponentHealth {
  ok: boolean;
  latencyMs: number;
  detail?: string;
}

/**
 * Runs one probe. The endpoint is public (load balancers call it), so a failure is reported in
 * words of our own: a driver's message can name hosts, databases, users or SQL. Its class and code
 * go to the log.
 */
async function timed(component: string, fn: () => Promise<string | undefined>, timeoutMs = 2000): Promise<ComponentHealth> {
  const t0 = performance.now();
  try {
    const detail = await Promise.race([
      fn(),
      new Promise<never>((_, rej) => setTimeout(() => rej(new NoAnswer(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - t0), ...(detail ? { detail } : {}) };
  } catch (e) {
    const latencyMs = Math.round(performance.now() - t0);
    if (e instanceof NoAnswer) return { ok: false, latencyMs, detail: e.message };
    log.warn({ component, err: (e as Error)?.name, code: (e as { code?: unknown })?.code }, "health probe failed");
    return { ok: false, latencyMs, detail: "unreachable (the server log has the error)" };
  }
}

export async function healthReport() {
  const [database, redis, workers] = await Promise.all([
    timed("database", async () => {
      const h = await dbHandle();
      await h.prisma.$queryRawUnsafe("SELECT 1");
      return h.kind;
    }),
    timed("redis", async () => {
      const pong = await sharedRedis().ping();
      if (pong !== "PONG") throw new Error("unexpected reply");
      return undefined;
    }),
    timed("workers", async () => `${(await getQueue("health").getWorkers()).length} connected`),
  ]);
  const ok = database.ok && redis.ok;
  return { status: ok ? "ok" : "degraded", database, redis, workers, time: new Date().toISOString() };
}
