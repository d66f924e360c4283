// What /api/health reports: can we reach the database and Redis, and do workers take jobs.
import { dbHandle } from "@/server/db";
import { sharedRedis } from "@/server/redis";
import { getQueue } from "@/server/queues";

export interface ComponentHealth {
  ok: boolean;
  latencyMs: number;
  detail?: string;
}

async function timed(fn: () => Promise<string | undefined>, timeoutMs = 2000): Promise<ComponentHealth> {
  const t0 = performance.now();
  try {
    const detail = await Promise.race([
      fn(),
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - t0), ...(detail ? { detail } : {}) };
  } catch (e) {
    return { ok: false, latencyMs: Math.round(performance.now() - t0), detail: (e as Error).message };
  }
}

export async function healthReport() {
  const [database, redis, workers] = await Promise.all([
    timed(async () => {
      const h = await dbHandle();
      await h.prisma.$queryRawUnsafe("SELECT 1");
      return h.kind;
    }),
    timed(async () => {
      const pong = await sharedRedis().ping();
      if (pong !== "PONG") throw new Error(`unexpected reply ${pong}`);
      return undefined;
    }),
    timed(async () => `${(await getQueue("health").getWorkers()).length} connected`),
  ]);
  const ok = database.ok && redis.ok;
  return { status: ok ? "ok" : "degraded", database, redis, workers, time: new Date().toISOString() };
}
