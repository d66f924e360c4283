// The webhook-pull step: fetch every instance of the study a delivery names from its source's
// node, stage it, and record it into the source's project (channel "webhook", batch = delivery).
// Each remote instance is recorded once per delivery (WebhookPulledInstance), so a retried job
// picks up where the last one stopped. Errors kept on the delivery carry no PHI.
import { rm } from "node:fs/promises";
import type { PrismaClient } from "@/server/db/generated/client";
import { childLog } from "@/lib/log";
import { openSecret } from "@/server/secrets";
import { stageStream, NotDicomError, TooLargeError } from "@/server/intake/stage";
import { ingestStaged } from "@/server/intake/ingest";
import { studyRef, webhookBody } from "@/lib/webhooks/schema";
import { listStudyInstances, NodeError, retrieveInstance, withRetry, type DicomNode } from "@/lib/webhooks/node";

const log = childLog("webhooks");

type SourceRow = { id: string; nodeKind: "orthanc" | "dicomweb"; nodeUrl: string; nodeAuth: "none" | "basic" | "bearer"; nodeUser: string | null; nodeSecretSealed: string | null };

export function nodeOf(source: SourceRow): DicomNode {
  const secret = source.nodeSecretSealed ? openSecret(source.nodeSecretSealed, { table: "WebhookSource", id: source.id, field: "nodeSecretSealed" }) : "";
  const auth: DicomNode["auth"] =
    source.nodeAuth === "basic" ? { kind: "basic", user: source.nodeUser ?? "", password: secret } : source.nodeAuth === "bearer" ? { kind: "bearer", token: secret } : { kind: "none" };
  return { kind: source.nodeKind, baseUrl: source.nodeUrl, auth };
}

/** A failure that retrying the job will not fix (the delivery is marked failed at once). */
export class PullFailed extends Error {}

export interface PullOptions {
  /** Per-request attempts and first backoff (network trouble, 5xx). */
  attempts?: number;
  baseDelayMs?: number;
}

export async function pullDelivery(prisma: PrismaClient, dataDir: string, deliveryId: string, opts: PullOptions = {}) {
  const delivery = await prisma.webhookDelivery.findUnique({ where: { id: deliveryId }, include: { source: true } });
  if (!delivery) return { outcome: "gone" as const };
  if (delivery.status === "done" || delivery.status === "failed") return { outcome: delivery.status };
  await prisma.webhookDelivery.update({ where: { id: deliveryId }, data: { status: "pulling", attempts: { increment: 1 } } });
  const { source } = delivery;
  const body = webhookBody.safeParse(delivery.body);
  const ref = body.success ? studyRef(source.nodeKind, body.data) : { ok: false as const, message: "The stored webhook body no longer fits this source." };
  if (!ref.ok) throw new PullFailed(ref.message);
  const node = nodeOf(source);
  const retry = { attempts: opts.attempts ?? 4, baseDelayMs: opts.baseDelayMs ?? 500 };

  const remote = await withRetry(() => listStudyInstances(node, ref.id), retry);
  if (!remote.length) throw new PullFailed("The node lists no instances for this study.");
  await prisma.webhookDelivery.update({ where: { id: deliveryId }, data: { instancesListed: remote.length } });
  const done = new Set((await prisma.webhookPulledInstance.findMany({ where: { deliveryId }, select: { remoteId: true } })).map((p) => p.remoteId));

  for (const inst of remote) {
    if (done.has(inst.remoteId)) continue;
    let failure: string | null = null;
    let staged: Awaited<ReturnType<typeof stageStream>> | null = null;
    try {
      staged = await withRetry(async () => {
        const stream = await retrieveInstance(node, inst);
        try {
          return await stageStream(dataDir, "webhook", stream);
        } catch (e) {
          if (e instanceof NotDicomError || e instanceof TooLargeError || e instanceof NodeError) throw e;
          throw new NodeError(`The transfer of an instance broke off (${(e as Error).name}).`, true);
        }
      }, retry);
    } catch (e) {
      if (e instanceof NotDicomError || e instanceof TooLargeError) failure = `The node sent something staging refused: ${e.message}`;
      else if (e instanceof NodeError && !e.retryable) failure = e.message;
      else throw e;
    }
    if (failure !== null) {
      await prisma.$transaction([
        prisma.webhookPulledInstance.create({ data: { deliveryId, remoteId: inst.remoteId, error: failure } }),
        prisma.webhookDelivery.update({ where: { id: deliveryId }, data: { instancesFailed: { increment: 1 } } }),
      ]);
      continue;
    }
    // A crash between recording and remembering leaves a recorded instance of this delivery
    // with the same bytes: adopt it instead of recording it twice.
    const earlier = await prisma.receivedInstance.findFirst({ where: { batchId: deliveryId, channel: "webhook", sha256: staged!.sha256 }, select: { id: true } });
    let instanceId: string;
    if (earlier) {
      await rm(staged!.path, { force: true });
      instanceId = earlier.id;
    } else {
      instanceId = (await ingestStaged(prisma, dataDir, staged!, { channel: "webhook", batchId: deliveryId }, { projectId: source.projectId })).id;
    }
    await prisma.$transaction([
      prisma.webhookPulledInstance.create({ data: { deliveryId, remoteId: inst.remoteId, instanceId } }),
      prisma.webhookDelivery.update({ where: { id: deliveryId }, data: { instancesPulled: { increment: 1 } } }),
    ]);
  }

  const final = await prisma.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId }, select: { instancesPulled: true, instancesFailed: true } });
  const firstError = final.instancesFailed
    ? (await prisma.webhookPulledInstance.findFirst({ where: { deliveryId, error: { not: null } }, select: { error: true } }))?.error
    : null;
  await prisma.webhookDelivery.update({
    where: { id: deliveryId },
    data: {
      status: final.instancesPulled === 0 ? "failed" : "done",
      finishedAt: new Date(),
      error: final.instancesFailed ? `${final.instancesFailed} of ${remote.length} instances could not be pulled: ${firstError}` : null,
    },
  });
  log.info({ deliveryId, sourceId: source.id, pulled: final.instancesPulled, failed: final.instancesFailed }, "webhook pull finished");
  return { outcome: "done" as const, pulled: final.instancesPulled, failed: final.instancesFailed };
}

/** Marks a delivery failed with a message an owner can act on (no PHI). */
export async function failDelivery(prisma: PrismaClient, deliveryId: string, error: Error) {
  const message =
    error instanceof PullFailed || error instanceof NodeError
      ? error.message
      : `The pull failed (${error.name}). It was retried; see the worker log for this delivery id.`;
  await prisma.webhookDelivery.updateMany({ where: { id: deliveryId, status: { in: ["accepted", "pulling"] } }, data: { status: "failed", error: message, finishedAt: new Date() } });
  log.warn({ deliveryId, error: error.name }, "webhook pull failed");
}
