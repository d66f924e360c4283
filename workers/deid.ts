import type { Job } from "bullmq";
import { parsePayload } from "@/lib/queue";
import { dataDir } from "@/lib/config";
import { db } from "@/server/db";
import { deidentifyInstance, quarantineAfterFailure } from "@/server/intake/deidentify";

export async function processDeid(job: Job) {
  const { instanceId } = parsePayload("deid", job.data);
  return { result: await deidentifyInstance(await db(), dataDir(), instanceId) };
}

/** Called when a job failed; after its last attempt the instance goes to quarantine. */
export async function onDeidFailed(job: Job | undefined, error: Error) {
  if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
  const { instanceId } = parsePayload("deid", job.data);
  await quarantineAfterFailure(await db(), instanceId, error);
}
