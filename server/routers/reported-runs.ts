// Runs reported from outside through the PIM API (/pim): collaborators read them beside Atrium's own.
import { TRPCError } from "@trpc/server";
import { router, projectProcedure } from "@/server/trpc/init";
import { reportedRunChanges } from "@/server/monitoring/run-watch";
import { getReportedJob, getReportedRun, listReportedRuns, reportedJobInput, reportedRunInput, reportedRunsInput } from "@/server/pim/read";

const notFound = (what: string) => new TRPCError({ code: "NOT_FOUND", message: `No such ${what} in this project. It may have been removed; go back to the runs list.` });

export const reportedRunsRouter = router({
  list: projectProcedure("collaborator")
    .input(reportedRunsInput)
    .query(({ ctx, input }) => listReportedRuns(ctx.prisma, { ...input, projectId: ctx.project.id })),
  get: projectProcedure("collaborator")
    .input(reportedRunInput)
    .query(async ({ ctx, input }) => (await getReportedRun(ctx.prisma, ctx.project.id, input.runId)) ?? Promise.reject(notFound("run"))),
  /** The run's changes pushed while its page is open (each report moves its version). */
  changes: projectProcedure("collaborator")
    .input(reportedRunInput)
    .subscription(async function* ({ ctx, input, signal }) {
      yield* reportedRunChanges(ctx.prisma, ctx.project.id, input.runId, signal);
    }),
  job: projectProcedure("collaborator")
    .input(reportedJobInput)
    .query(async ({ ctx, input }) => (await getReportedJob(ctx.prisma, ctx.project.id, input.runId, input.path)) ?? Promise.reject(notFound("job"))),
});
