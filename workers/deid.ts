import type { Job } from "bullmq";
import { parsePayload } from "@/lib/queue";
import { dataDir } from "@/lib/config";
import { db } from "@/server/db";
import { deidentifyInstance } from "@/server/intake/deidentify";

export async function processDeid(job: Job) {
  const { instanceId } = parsePayload("deid", job.data);
  return { result: await deidentifyInstance(await db(), dataDir(), instanceId) };
}
