import type { Job } from "bullmq";
import { parsePayload } from "@/lib/queue";
import { db } from "@/server/db";
import { processComputeJob } from "@/server/pipelines/job";

/** One pipeline job; its failures are recorded on the PipelineJob row, never thrown to BullMQ. */
export async function processCompute(job: Job) {
  const { jobId, attempt } = parsePayload("compute", job.data);
  return processComputeJob(await db(), jobId, attempt);
}
