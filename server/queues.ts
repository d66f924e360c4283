// BullMQ queues for producers (web and workers). Payloads are validated on enqueue with the
// schema of lib/queue, the same one the worker parses with.
import { Queue, type JobsOptions } from "bullmq";
import { readEnv } from "@/lib/config";
import { parsePayload, type QueueName, type QueuePayload } from "@/lib/queue";
import { sharedRedis } from "@/server/redis";

const key = Symbol.for("atrium.queues");
type G = typeof globalThis & { [key]?: Map<QueueName, Queue> };

export function queuePrefix(): string {
  return readEnv().ATRIUM_QUEUE_PREFIX;
}

export function getQueue(name: QueueName): Queue {
  const g = globalThis as G;
  g[key] ??= new Map();
  let q = g[key]!.get(name);
  if (!q) {
    q = new Queue(name, { connection: sharedRedis(), prefix: queuePrefix() });
    g[key]!.set(name, q);
  }
  return q;
}

export async function enqueue<N extends QueueName>(name: N, payload: QueuePayload<N>, opts?: JobsOptions) {
  return getQueue(name).add(name, parsePayload(name, payload), opts);
}

export async function closeQueues(): Promise<void> {
  const g = globalThis as G;
  const queues = [...(g[key]?.values() ?? [])];
  g[key] = undefined;
  await Promise.all(queues.map((q) => q.close()));
}

