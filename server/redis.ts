// Redis connections: one shared connection per process for producers and health checks; BullMQ
// workers get their own (they block). Redis holds only queues: losing it loses no data.
import { Redis, type RedisOptions } from "ioredis";
import { readEnv } from "@/lib/config";

export function createRedis(url = readEnv().REDIS_URL, extra: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, ...extra });
}

const key = Symbol.for("atrium.redis");
type G = typeof globalThis & { [key]?: Redis };

export function sharedRedis(): Redis {
  const g = globalThis as G;
  g[key] ??= createRedis();
  return g[key]!;
}

export async function closeSharedRedis(): Promise<void> {
  const g = globalThis as G;
  const r = g[key];
  g[key] = undefined;
  if (r) await r.quit().catch(() => r.disconnect());
}

/** Answers within `timeoutMs` whether a Redis server answers PING at `url`. */
export async function pingRedis(url: string, timeoutMs = 1500): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null });
  r.on("error", () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}
