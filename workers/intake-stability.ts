import { db } from "@/server/db";
import { markStableStudies } from "@/server/intake/deidentify";
import { requeuePendingInstances } from "@/server/intake/queue";
import { sweepArchives } from "@/server/archive/queue";
import { sweepForwards } from "@/server/forward/queue";
import { sweepStagingIfDue } from "@/server/intake/staging";
import { dataDir } from "@/lib/config";

/** Instances recorded longer ago than this without a de-identification job are queued again. */
export const SWEEP_AFTER_MS = 30_000;

export async function processIntakeStability() {
  const prisma = await db();
  const requeued = await requeuePendingInstances(prisma, { olderThanMs: SWEEP_AFTER_MS });
  const stable = await markStableStudies(prisma);
  // Stable studies go to the archive; archive jobs lost with Redis are re-derived here.
  const archive = await sweepArchives(prisma);
  // Archived (or stable) studies go to the forward destinations; lost forward jobs are re-derived.
  const forward = await sweepForwards(prisma);
  // Staged originals no longer needed, and interrupted receives and zip spools (every 10 minutes).
  const staging = await sweepStagingIfDue(prisma, dataDir());
  return { stable, requeued, archive, forward, ...(staging ? { staging } : {}) };
}
