// Step 1 of intake, shared by every way in (C-STORE, STOW-RS, webhook pulls, browser upload):
// a file already durable in staging is recorded in PostgreSQL, routed or quarantined, and only
// then may the sender be told it was received. De-identification is queued after the record
// commits; if Redis is away, the record is enough: recovery re-queues every `received` instance.
import path from "node:path";
import type { PrismaClient } from "@/server/db/generated/client";
import { childLog } from "@/lib/log";

const log = childLog("intake");

export interface StagedFile {
  /** Absolute path of the staged file (inside the data directory). */
  path: string;
  sizeBytes: number;
  sha256: string;
  sopClassUid?: string | null;
  sopInstanceUid?: string | null;
  transferSyntaxUid?: string | null;
}

export interface ReceiveContext {
  channel: "cstore" | "stow" | "webhook" | "upload";
  batchId: string;
  callingAe?: string | null;
  calledAe?: string | null;
  remoteAddress?: string | null;
}

export type Route = { projectId: string } | { projectId: null; reason: string };

export async function recordReceived(prisma: PrismaClient, dataDir: string, file: StagedFile, ctx: ReceiveContext, route: Route) {
  const stagingPath = path.relative(dataDir, file.path);
  if (stagingPath.startsWith("..")) throw new Error("A staged file must be inside the data directory.");
  const quarantined = route.projectId === null;
  const instance = await prisma.receivedInstance.create({
    data: {
      channel: ctx.channel,
      batchId: ctx.batchId,
      callingAe: ctx.callingAe ?? null,
      calledAe: ctx.calledAe ?? null,
      remoteAddress: ctx.remoteAddress ?? null,
      projectId: route.projectId,
      sopClassUid: file.sopClassUid ?? null,
      sopInstanceUid: file.sopInstanceUid ?? null,
      transferSyntaxUid: file.transferSyntaxUid ?? null,
      stagingPath,
      sizeBytes: file.sizeBytes,
      sha256: file.sha256,
      status: quarantined ? "quarantined" : "received",
      reason: quarantined ? route.reason : null,
      events: {
        create: [
          { step: "received", detail: { channel: ctx.channel, batchId: ctx.batchId, sizeBytes: file.sizeBytes } },
          quarantined ? { step: "quarantined", detail: { reason: route.reason } } : { step: "routed", detail: { projectId: route.projectId } },
        ],
      },
    },
    select: { id: true, projectId: true, status: true },
  });
  log.debug({ instanceId: instance.id, channel: ctx.channel, status: instance.status }, "instance recorded");
  return instance;
}
