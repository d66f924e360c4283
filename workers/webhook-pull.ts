import { UnrecoverableError, type Job } from "bullmq";
import { parsePayload } from "@/lib/queue";
import { dataDir } from "@/lib/config";
import { db } from "@/server/db";
import { failDelivery, pullDelivery, PullFailed } from "@/server/webhooks/pull";
import { NodeError } from "@/lib/webhooks/node";

export async function processWebhookPull(job: Job) {
  const { deliveryId } = parsePayload("webhook-pull", job.data);
  const prisma = await db();
  try {
    return await pullDelivery(prisma, dataDir(), deliveryId);
  } catch (e) {
    if (e instanceof PullFailed || (e instanceof NodeError && !e.retryable)) {
      await failDelivery(prisma, deliveryId, e);
      throw new UnrecoverableError(e.message);
    }
    throw e;
  }
}

/** After the last attempt, the delivery is marked failed with the reason. */
export async function onWebhookPullFailed(job: Job | undefined, error: Error) {
  if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
  const { deliveryId } = parsePayload("webhook-pull", job.data);
  await failDelivery(await db(), deliveryId, error);
}
