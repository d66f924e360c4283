import { db } from "@/server/db";
import { markStableStudies } from "@/server/intake/deidentify";
import { requeuePendingInstances } from "@/server/intake/queue";

/** Instances recorded longer ago than this without a de-identification job are queued again. */
export const SWEEP_AFTER_MS = 30_000;

export async function processIntakeStability() {
  const prisma = await db();
  const requeued = await requeuePendingInstances(prisma, { olderThanMs: SWEEP_AFTER_MS });
  return { stable: await markStableStudies(prisma), requeued };
}
