import type { Job } from "bullmq";
import { parsePayload } from "@/lib/queue";
import { dataDir } from "@/lib/config";
import { db } from "@/server/db";
import { runArchiveAttempt } from "@/server/archive/run";

/** One attempt of one study's archive; failures are recorded by the state machine, never thrown to BullMQ. */
export async function processArchive(job: Job) {
  const { studyId, attempt } = parsePayload("archive", job.data);
  return { result: await runArchiveAttempt(await db(), dataDir(), studyId, attempt) };
}
