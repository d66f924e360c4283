// Browser upload: the live outcome of one upload session (batch), for the Upload tab's summary.
import { router, projectProcedure } from "@/server/trpc/init";
import { countBatch, reasonsOf, uploadBatchInput } from "@/lib/intake/upload";

/** Most instances listed one by one for a batch (the counts always cover all of them). */
const MAX_LISTED = 20_000;

export const uploadRouter = router({
  /** Per-instance status of a batch: received → de-identified / duplicate / quarantined (with reason). No original UIDs. */
  batch: projectProcedure("member")
    .input(uploadBatchInput)
    .query(async ({ ctx, input }) => {
      const instances = await ctx.prisma.receivedInstance.findMany({
        where: { projectId: ctx.project.id, channel: "upload", batchId: input.batchId },
        select: { id: true, status: true, reason: true },
        orderBy: { receivedAt: "asc" },
      });
      return {
        batchId: input.batchId,
        counts: countBatch(instances),
        reasons: reasonsOf(instances),
        instances: instances.slice(0, MAX_LISTED),
      };
    }),
});
