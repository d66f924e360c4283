// The services callbacks use in this process: programs, SMTP and webhook signing from the
// environment; the fastr callback starts an Atrium pipeline run (server/pipelines/governor.ts) and
// create_task / create_taskgroup create tasks (server/tasks/governor.ts).
import type { PrismaClient } from "@/server/db/generated/client";
import { servicesFromEnv, type CallbackServices } from "@/lib/governor";
import { governorPipelineAdapter } from "@/server/pipelines/governor";
import { governorTaskAdapter } from "@/server/tasks/governor";

let override: CallbackServices | null = null;

export function governorServices(prisma: PrismaClient): CallbackServices {
  return override ?? servicesFromEnv(process.env, { startPipelineRun: governorPipelineAdapter(prisma), createTasks: governorTaskAdapter(prisma) });
}

/** Tests and embedders replace the services (e.g. a fake SMTP port) for this process. */
export function setGovernorServices(s: CallbackServices | null): void {
  override = s;
}
