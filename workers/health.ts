// The health queue: answers liveness probes so /api/health can tell that workers take jobs.
import type { Job } from "bullmq";
import { parsePayload } from "@/lib/queue";

export async function processHealth(job: Job) {
  const payload = parsePayload("health", job.data);
  return { answeredAt: new Date().toISOString(), requestedAt: payload.requestedAt, pid: process.pid };
}
