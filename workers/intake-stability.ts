import { db } from "@/server/db";
import { markStableStudies } from "@/server/intake/deidentify";
import { requeuePendingInstances } from "@/server/intake/queue";
import { sweepArchives } from "@/server/archive/queue";

/** Instances recorded longer ago than this without a de-identification job are queued again. */
export const SWEEP_AFTER_MS = 30_000;

export async function processIntakeStability() {
  const prisma = await db();
  const requeued = await requeuePendingInstances(prisma, { olderThanMs: SWEEP_AFTER_MS });
  const stable = await markStableStudies(prisma);
  // Stable studies go to the archive; archive jobs lost with Redis are re-derived here.
  return { stable, requeued, archive: await sweepArchives(prisma) };
}
