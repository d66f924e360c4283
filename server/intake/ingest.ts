// Steps 1–2 of intake for a staged file, shared by every way in: route it, record it (the point
// after which the sender may be told it was received), and queue its de-identification.
import type { PrismaClient } from "@/server/db/generated/client";
import { childLog } from "@/lib/log";
import { recordReceived, type ReceiveContext, type StagedFile } from "./receive";
import { resolveRoute, type Binding } from "./routing";
import { queueDeid } from "./queue";
import { noteInstanceReceived } from "./activity";

const log = childLog("intake");

export async function ingestStaged(prisma: PrismaClient, dataDir: string, file: StagedFile, ctx: ReceiveContext, binding: Binding) {
  const route = await resolveRoute(prisma, binding, file);
  const instance = await recordReceived(prisma, dataDir, file, ctx, route);
  noteInstanceReceived();
  if (instance.status === "received") {
    // Not awaited: the sender's acknowledgement must not wait for Redis (it may be restarting).
    // The record is the promise; a job lost here is re-queued by the periodic sweep
    // (requeuePendingInstances) or at the next worker start.
    queueDeid(instance.id).catch((e: Error) => log.warn({ instanceId: instance.id, error: e.name }, "could not queue de-identification"));
  }
  return instance;
}
