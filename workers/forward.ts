import type { Job } from "bullmq";
import { parsePayload } from "@/lib/queue";
import { dataDir } from "@/lib/config";
import { db } from "@/server/db";
import { runForwardAttempt } from "@/server/forward/run";

/** One attempt of one study's forward to one destination; failures are recorded by the state machine, never thrown to BullMQ. */
export async function processForward(job: Job) {
  const { forwardId, attempt } = parsePayload("forward", job.data);
  return { result: await runForwardAttempt(await db(), dataDir(), forwardId, attempt) };
}
