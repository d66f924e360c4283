// Workflows (issue #16): the project's workflow (import with line errors, versions), the progress
// board, an experiment's history, and owners' actions (force a state with a reason, retry a failed
// callback, pause) — all audited. Thin: the engine is server/governor/engine.ts.
import { TRPCError } from "@trpc/server";
import { router, projectProcedure } from "@/server/trpc/init";
import { writeAudit } from "@/server/audit";
import { boardInput, expectedInput, experimentInput, exportInput, importWorkflowInput, pauseInput, projectInput, retryInput, saveExpectedInput, setStateInput } from "@/lib/governor/api";
import { importWorkflowYaml, WorkflowImportError } from "@/lib/governor";
import { installWorkflow, ProtocolError, retryExecution, setExperimentState, evaluateExperiment } from "@/server/governor/engine";
import { adoptExperiments, board, experimentDetail, workflowInfo } from "@/server/governor/views";
import { migrateInput, migrationPreviewInput, MigrationChoiceError } from "@/lib/governor/migration";
import { migrateExperiments, migrationPreview } from "@/server/governor/migration";
import { studyExport } from "@/server/governor/export";
import { ExpectedProtocolError } from "@/lib/governor/expected";
import { reconcileProject, saveProtocol } from "@/server/governor/expected";

const codeOf = { 400: "BAD_REQUEST", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT" } as const;
function asTrpc(e: unknown): never {
  if (e instanceof MigrationChoiceError) throw new TRPCError({ code: "BAD_REQUEST", message: e.message });
  if (e instanceof ProtocolError) throw new TRPCError({ code: codeOf[e.status], message: e.message });
  throw e;
}

async function governedOf(prisma: Parameters<typeof workflowInfo>[0], projectId: string, experimentId: string) {
  const g = await prisma.governorExperiment.findFirst({ where: { experimentId, projectId }, select: { id: true, state: true, paused: true } });
  if (!g) throw new TRPCError({ code: "NOT_FOUND", message: "This experiment is in no workflow (import one, then adopt the project's experiments)." });
  return g;
}

export const governorRouter = router({
  /** The active workflow (definition) and every imported version with how many experiments use it. */
  workflow: projectProcedure("collaborator").input(projectInput).query(({ ctx }) => workflowInfo(ctx.prisma, ctx.project.id)),

  /**
   * Imports a workflow file as the project's new version. A file that cannot be imported installs
   * nothing and answers {ok: false, problems: [{line, message}]}.
   */
  importWorkflow: projectProcedure("owner")
    .input(importWorkflowInput)
    .mutation(async ({ ctx, input }) => {
      let imported;
      try {
        imported = importWorkflowYaml(input.source);
      } catch (e) {
        if (e instanceof WorkflowImportError) return { ok: false as const, problems: e.problems };
        throw e;
      }
      const installed = await installWorkflow(ctx.prisma, ctx.project.id, imported, ctx.user.id);
      const adopted = input.adopt ? await adoptExperiments(ctx.prisma, ctx.project.id) : 0;
      return { ok: true as const, workflow: installed, adopted };
    }),

  board: projectProcedure("collaborator")
    .input(boardInput)
    .query(({ ctx, input }) => board(ctx.prisma, ctx.project.id, { state: input.state, search: input.search, perState: input.perState })),

  experiment: projectProcedure("collaborator")
    .input(experimentInput)
    .query(async ({ ctx, input }) => {
      const d = await experimentDetail(ctx.prisma, ctx.project.id, input.experimentId);
      if (!d) throw new TRPCError({ code: "NOT_FOUND", message: "No such experiment in this project." });
      return d;
    }),

  /** An owner forces a state (any state of the experiment's workflow), with a reason; audited; its callbacks run. */
  setState: projectProcedure("owner")
    .input(setStateInput)
    .mutation(async ({ ctx, input }) => {
      const g = await governedOf(ctx.prisma, ctx.project.id, input.experimentId);
      const r = await setExperimentState(ctx.prisma, g.id, input.state, { force: true, freetext: input.reason, actorId: ctx.user.id, cause: "manual" }).catch(asTrpc);
      return { state: r.state, error: r.error };
    }),

  /** An owner runs a failed or timed-out callback of the current state again; audited. */
  retry: projectProcedure("owner")
    .input(retryInput)
    .mutation(async ({ ctx, input }) => {
      const x = await ctx.prisma.governorCallbackExecution.findFirst({ where: { id: input.executionId, action: { experiment: { projectId: ctx.project.id } } }, select: { id: true } });
      if (!x) throw new TRPCError({ code: "NOT_FOUND", message: "No such callback execution in this project." });
      await retryExecution(ctx.prisma, x.id, ctx.user.id).catch(asTrpc);
      return { ok: true };
    }),

  /** Where each experiment of an earlier version would land in the active one (owners choose per group). */
  migrationPreview: projectProcedure("owner")
    .input(migrationPreviewInput)
    .query(({ ctx, input }) => migrationPreview(ctx.prisma, ctx.project.id, input.choices).catch(asTrpc)),

  /** Moves the experiments of earlier versions to the active one, as the preview said; audited per experiment. */
  migrate: projectProcedure("owner")
    .input(migrateInput)
    .mutation(({ ctx, input }) => migrateExperiments(ctx.prisma, ctx.project.id, { choices: input.choices, expected: input.expected, actorId: ctx.user.id }).catch(asTrpc)),

  /**
   * The study export: per subject and visit, the workflow state and variables, pipeline values and
   * task answers, as CSV or as JSON with its data dictionary. Owners, as for a task group's
   * results: a member who reads may not see the other reads of a case.
   */
  export: projectProcedure("owner")
    .input(exportInput)
    .query(({ ctx, input }) => studyExport(ctx.prisma, ctx.project.id, input.format)),

  /** Expected versus received: the protocol, counts per visit and status, and each subject's visits. */
  expected: projectProcedure("collaborator")
    .input(expectedInput)
    .query(({ ctx, input }) => reconcileProject(ctx.prisma, ctx.project.id, { search: input.search, status: input.status, limit: input.limit })),

  /**
   * Saves the project's protocol of expected visits and scans. One that does not parse saves
   * nothing and answers {ok: false, problems: [{line, message}]}.
   */
  saveExpected: projectProcedure("owner")
    .input(saveExpectedInput)
    .mutation(async ({ ctx, input }) => {
      try {
        const r = await saveProtocol(ctx.prisma, ctx.project.id, input.source, ctx.user.id);
        return { ok: true as const, visits: r.protocol.visits.map((v) => v.label), evaluations: r.evaluations };
      } catch (e) {
        if (e instanceof ExpectedProtocolError) return { ok: false as const, problems: e.problems };
        throw e;
      }
    }),

  /** An owner pauses (or resumes) an experiment's workflow; audited. Resuming evaluates it. */
  pause: projectProcedure("owner")
    .input(pauseInput)
    .mutation(async ({ ctx, input }) => {
      const g = await governedOf(ctx.prisma, ctx.project.id, input.experimentId);
      await ctx.prisma.$transaction(async (tx) => {
        await tx.governorExperiment.update({ where: { id: g.id }, data: { paused: input.paused } });
        await writeAudit(tx, { projectId: ctx.project.id, actorId: ctx.user.id, action: input.paused ? "governor.pause" : "governor.resume", targetType: "experiment", targetId: input.experimentId, before: { paused: g.paused }, after: { paused: input.paused } });
      });
      if (!input.paused) await evaluateExperiment(ctx.prisma, g.id, { cause: "resumed" });
      return { paused: input.paused };
    }),
});
