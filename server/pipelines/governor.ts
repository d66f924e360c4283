// The Study Governor's "fastr" callback starts a pipeline run through this adapter: pass
// `governorPipelineAdapter(prisma)` as `startPipelineRun` to servicesFromEnv (lib/governor/callbacks).
// The callback names the network (pipeline id), the experiment by its API URL and the execution by
// its URL; the run records "governor:<execution id>" as who started it, and the execution URL to tell.
import type { PrismaClient } from "@/server/db/generated/client";
import { lastPathSegment, type PipelineRunRequest } from "@/lib/governor/callbacks";
import { startPipelineRun } from "./runs";
import { registerDefaultProcessing } from "./registry";

const DEFAULT_PROCESSING = "default_processing";


export function governorPipelineAdapter(prisma: PrismaClient) {
  return async (req: PipelineRunRequest): Promise<{ runId: string; uri?: string }> => {
    // The default workflow's processing step is built in: registered on first use.
    if (req.networkId === DEFAULT_PROCESSING && !(await prisma.pipeline.findFirst({ where: { projectId: req.projectSlug, pipelineId: DEFAULT_PROCESSING }, select: { id: true } })))
      await registerDefaultProcessing(prisma, req.projectSlug);
    const run = await startPipelineRun(prisma, {
      projectId: req.projectSlug,
      pipeline: req.networkId,
      experimentIds: [lastPathSegment(req.experimentUrl)],
      startedBy: `governor:${lastPathSegment(req.callbackUrl)}`,
      callbackUrl: req.callbackUrl,
    });
    return { runId: run.id, uri: `/projects/${encodeURIComponent(run.projectId)}/runs/${run.id}` };
  };
}
