// The governor queue (issue #16): `evaluate` moves one experiment through its workflow (timers,
// transitions), `run` runs one callback execution. Both are idempotent (see server/governor/engine.ts).
import type { Job } from "bullmq";
import { parsePayload } from "@/lib/queue";
import { db } from "@/server/db";
import { evaluateExperiment, runExecution } from "@/server/governor/engine";
import { governorServices } from "@/server/governor/services";

export async function processGovernor(job: Job) {
  const p = parsePayload("governor", job.data);
  const prisma = await db();
  if (p.kind === "run") return { result: await runExecution(prisma, p.id, governorServices(prisma)) };
  const r = await evaluateExperiment(prisma, p.id, { cause: p.cause });
  return { state: r.state, moved: r.moved };
}
