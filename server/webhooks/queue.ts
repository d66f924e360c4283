// Queueing webhook pulls. The delivery rows are the truth: accepted or pulling deliveries are
// queued again when the workers start (after a crash or a Redis loss).
import { enqueue, getQueue } from "@/server/queues";
import type { PrismaClient } from "@/server/db/generated/client";
import { childLog } from "@/lib/log";

const log = childLog("webhooks");

export const WEBHOOK_PULL_JOB_OPTIONS = {
  attempts: 6,
  backoff: { type: "exponential" as const, delay: 5_000 },
  removeOnComplete: true,
  removeOnFail: 1_000,
};

export async function queueWebhookPull(deliveryId: string) {
  await enqueue("webhook-pull", { deliveryId }, { ...WEBHOOK_PULL_JOB_OPTIONS, jobId: deliveryId });
}

export async function requeuePendingDeliveries(prisma: PrismaClient): Promise<number> {
  const pending = await prisma.webhookDelivery.findMany({ where: { status: { in: ["accepted", "pulling"] } }, select: { id: true }, orderBy: { receivedAt: "asc" } });
  if (!pending.length) return 0;
  await getQueue("webhook-pull").addBulk(
    pending.map((d) => ({ name: "webhook-pull", data: { deliveryId: d.id }, opts: { ...WEBHOOK_PULL_JOB_OPTIONS, jobId: d.id } })),
  );
  log.info({ deliveries: pending.length }, "re-queued webhook pulls");
  return pending.length;
}
