// Pipelines of a project: tools and pipelines (the project's and the site's), registering new
// versions from YAML/JSON (owners; problems come back with their line, node and link), runs
// (members start, cancel and re-run failed jobs; collaborators read runs, jobs, logs, provenance).
import { TRPCError } from "@trpc/server";
import { pipelineRunChanges } from "@/server/monitoring/run-watch";
import { router, projectProcedure } from "@/server/trpc/init";
import { writeAudit } from "@/server/audit";
import { experimentResultsInput, jobRefInput, listRunsInput, pipelineRefInput, registerDefinitionInput, runRefInput, startRunInput } from "@/lib/pipelines/api";
import { pipelineGraph } from "@/lib/pipelines/graph";
import { pipelineSchema, toolSchema } from "@/lib/pipelines/schema";
import { compareVersions } from "@/lib/pipelines/validate";
import { PipelineRegistryError, registerPipeline, registerTool } from "@/server/pipelines/registry";
import { cancelRun, PipelineRunError, rerunFailed, startRunFromRequest } from "@/server/pipelines/runs";
import { experimentResults } from "@/server/pipelines/results";
import { followJobLog, getJob, getRun, listRuns, PipelineNotFoundError, runProvenance } from "@/server/pipelines/read";

/** Domain errors become tRPC errors with their message (they never carry PHI). */
async function domain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PipelineNotFoundError) throw new TRPCError({ code: "NOT_FOUND", message: e.message });
    if (e instanceof PipelineRunError || e instanceof PipelineRegistryError) throw new TRPCError({ code: "BAD_REQUEST", message: e.message, cause: e });
    throw e;
  }
}

/** Registration: definition problems are an answer (shown at their lines), not an error. */
async function register<T>(fn: () => Promise<T>) {
  try {
    return { ok: true as const, ...(await fn()) };
  } catch (e) {
    if (e instanceof PipelineRegistryError) return { ok: false as const, message: e.message, problems: e.problems };
    throw e;
  }
}

export const pipelineRouter = router({
  tools: projectProcedure("collaborator").query(async ({ ctx }) => {
    const rows = await ctx.prisma.pipelineTool.findMany({ where: { scope: { in: [ctx.project.id, "site"] } }, orderBy: [{ toolId: "asc" }, { createdAt: "desc" }] });
    return rows
      .map((r) => {
        const t = toolSchema.parse(r.definition);
        return { rowId: r.id, scope: r.scope === "site" ? "site" : "project", toolId: r.toolId, version: r.version, description: t.description ?? null, inputs: t.inputs.length, outputs: t.outputs.length, binaries: t.requires.binaries, createdAt: r.createdAt };
      })
      .sort((a, b) => a.toolId.localeCompare(b.toolId) || compareVersions(b.version, a.version));
  }),
  pipelines: projectProcedure("collaborator").query(async ({ ctx }) => {
    const rows = await ctx.prisma.pipeline.findMany({ where: { scope: { in: [ctx.project.id, "site"] } }, orderBy: [{ pipelineId: "asc" }, { createdAt: "desc" }] });
    return rows
      .map((r) => {
        const d = pipelineSchema.parse(r.definition);
        return { rowId: r.id, scope: r.scope === "site" ? "site" : "project", pipelineId: r.pipelineId, version: r.version, name: r.name, description: d.description ?? null, nodes: Object.keys(d.nodes).length, createdAt: r.createdAt };
      })
      .sort((a, b) => a.pipelineId.localeCompare(b.pipelineId) || compareVersions(b.version, a.version));
  }),
  /** One pipeline version: its text and its graph. */
  definition: projectProcedure("collaborator")
    .input(pipelineRefInput)
    .query(async ({ ctx, input }) => {
      const r = await ctx.prisma.pipeline.findFirst({ where: { id: input.pipelineRowId, scope: { in: [ctx.project.id, "site"] } } });
      if (!r) throw new TRPCError({ code: "NOT_FOUND", message: `No pipeline ${input.pipelineRowId} in project ${ctx.project.id}.` });
      const def = pipelineSchema.parse(r.definition);
      return { rowId: r.id, pipelineId: r.pipelineId, version: r.version, sourceText: r.sourceText, toolVersions: r.toolVersions as Record<string, string>, graph: pipelineGraph(def) };
    }),
  registerTool: projectProcedure("owner")
    .input(registerDefinitionInput)
    .mutation(async ({ ctx, input }) =>
      register(async () => {
        const { row, created, warnings } = await registerTool(ctx.prisma, { kind: "project", projectId: ctx.project.id }, input.text, ctx.user.id);
        if (created) await writeAudit(ctx.prisma, { projectId: ctx.project.id, actorId: ctx.user.id, action: "pipeline.tool.register", targetType: "tool", targetId: row.id, after: { toolId: row.toolId, version: row.version } });
        return { rowId: row.id, id: row.toolId, version: row.version, created, warnings };
      }),
    ),
  registerPipeline: projectProcedure("owner")
    .input(registerDefinitionInput)
    .mutation(async ({ ctx, input }) =>
      register(async () => {
        const { row, created } = await registerPipeline(ctx.prisma, { kind: "project", projectId: ctx.project.id }, input.text, ctx.user.id);
        if (created) await writeAudit(ctx.prisma, { projectId: ctx.project.id, actorId: ctx.user.id, action: "pipeline.register", targetType: "pipeline", targetId: row.id, after: { pipelineId: row.pipelineId, version: row.version } });
        return { rowId: row.id, id: row.pipelineId, version: row.version, created, warnings: [] as string[] };
      }),
    ),
  start: projectProcedure("member")
    .input(startRunInput)
    .mutation(async ({ ctx, input }) =>
      domain(async () => {
        const run = await startRunFromRequest(ctx.prisma, { ...input, projectId: ctx.project.id }, `user:${ctx.user.id}`, ctx.user.id);
        await writeAudit(ctx.prisma, { projectId: ctx.project.id, actorId: ctx.user.id, action: "pipeline.run.start", targetType: "pipelineRun", targetId: run.id, after: { pipeline: `${run.pipelineId}@${run.pipelineVersion}`, experiments: run.experimentIds.length, executor: run.executor } });
        return { runId: run.id, state: run.state, error: run.error, notes: run.notes };
      }),
    ),
  runs: projectProcedure("collaborator")
    .input(listRunsInput)
    .query(async ({ ctx, input }) => listRuns(ctx.prisma, ctx.project.id, input)),
  run: projectProcedure("collaborator")
    .input(runRefInput)
    .query(async ({ ctx, input }) =>
      domain(async () => {
        const r = await getRun(ctx.prisma, ctx.project.id, input.runId);
        return { ...r, graph: pipelineGraph(pipelineSchema.parse(r.definition)) };
      }),
    ),
  job: projectProcedure("collaborator")
    .input(jobRefInput)
    .query(async ({ ctx, input }) => domain(() => getJob(ctx.prisma, ctx.project.id, input.jobId))),
  /** What pipelines stored for one experiment: values and resources, with their runs (Browse). */
  results: projectProcedure("collaborator")
    .input(experimentResultsInput)
    .query(async ({ ctx, input }) => {
      const r = await experimentResults(ctx.prisma, ctx.project.id, input.experimentId);
      if (!r) throw new TRPCError({ code: "NOT_FOUND", message: "No such experiment in this project." });
      return r;
    }),
  /** A job's log live: its tail, then every append and state change, until the job has ended. */
  jobLog: projectProcedure("collaborator")
    .input(jobRefInput)
    .subscription(async function* ({ ctx, input, signal }) {
      try {
        yield* followJobLog(ctx.prisma, ctx.project.id, input.jobId, signal);
      } catch (e) {
        if (e instanceof PipelineNotFoundError) throw new TRPCError({ code: "NOT_FOUND", message: e.message });
        throw e;
      }
    }),
  /** The run's changes pushed while its page is open: the page refetches the run on each new version. */
  runChanges: projectProcedure("collaborator")
    .input(runRefInput)
    .subscription(async function* ({ ctx, input, signal }) {
      yield* pipelineRunChanges(ctx.prisma, ctx.project.id, input.runId, signal);
    }),
  provenance: projectProcedure("collaborator")
    .input(runRefInput)
    .query(async ({ ctx, input }) => domain(() => runProvenance(ctx.prisma, ctx.project.id, input.runId))),
  cancel: projectProcedure("member")
    .input(runRefInput)
    .mutation(async ({ ctx, input }) =>
      domain(async () => {
        const run = await cancelRun(ctx.prisma, ctx.project.id, input.runId);
        await writeAudit(ctx.prisma, { projectId: ctx.project.id, actorId: ctx.user.id, action: "pipeline.run.cancel", targetType: "pipelineRun", targetId: run.id });
        return { runId: run.id, state: run.state };
      }),
    ),
  rerunFailed: projectProcedure("member")
    .input(runRefInput)
    .mutation(async ({ ctx, input }) =>
      domain(async () => {
        const r = await rerunFailed(ctx.prisma, ctx.project.id, input.runId);
        await writeAudit(ctx.prisma, { projectId: ctx.project.id, actorId: ctx.user.id, action: "pipeline.run.rerun", targetType: "pipelineRun", targetId: input.runId, after: r });
        return r;
      }),
    ),
});
