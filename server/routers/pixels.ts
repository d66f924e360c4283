// Pixel review: instances held because their pixels may show burned-in identifiers, and the
// project's pixel rules. Members see the queue (reasons and de-identified header facts, no pixels);
// owners view the images (HTTP route /api/projects/{id}/pixel-review/{instanceId}/image), decide
// and manage the rules. Every decision and rule change is audited (server/pixels/review.ts).
import { router, projectProcedure } from "@/server/trpc/init";
import { dataDir } from "@/lib/config";
import { createRuleInput, heldInstanceInput, heldListInput, releaseInput, ruleRefInput, updateRuleInput } from "@/lib/pixels/schema";
import { createRule, deleteHeld, heldCounts, heldInstance, listHeld, listRules, releaseHeld, removeRule, updateRule } from "@/server/pixels/review";

export const pixelsRouter = router({
  /** Counts of held instances per subject and study: the badges of Intake and Browse (collaborators see that data is held, not what). */
  counts: projectProcedure("collaborator").query(({ ctx }) => heldCounts(ctx.prisma, ctx.project.id)),

  /** The held instances, filtered by reason or subject. */
  held: projectProcedure("member")
    .input(heldListInput)
    .query(({ ctx, input }) => listHeld(ctx.prisma, ctx.project.id, input)),

  /** One held instance, for the review page. */
  get: projectProcedure("owner")
    .input(heldInstanceInput)
    .query(async ({ ctx, input }) => {
      const { review } = await heldInstance(ctx.prisma, ctx.project.id, input.instanceId);
      const { decision: _d, decidedAt: _a, decidedById: _b, regions: _r, ruleId: _i, ...facts } = review;
      return facts;
    }),

  release: projectProcedure("owner")
    .input(releaseInput)
    .mutation(({ ctx, input }) => releaseHeld(ctx.prisma, dataDir(), ctx.project.id, input.instanceId, ctx.user.id, { regions: input.regions, saveRule: input.saveRule })),

  delete: projectProcedure("owner")
    .input(heldInstanceInput)
    .mutation(({ ctx, input }) => deleteHeld(ctx.prisma, dataDir(), ctx.project.id, input.instanceId, ctx.user.id)),

  rules: projectProcedure("member").query(({ ctx }) => listRules(ctx.prisma, ctx.project.id)),

  createRule: projectProcedure("owner")
    .input(createRuleInput)
    .mutation(({ ctx, input }) => createRule(ctx.prisma, ctx.project.id, ctx.user.id, { signature: input.signature, regions: input.regions, description: input.description })),

  updateRule: projectProcedure("owner")
    .input(updateRuleInput)
    .mutation(({ ctx, input }) => {
      const { projectId: _p, ruleId, ...change } = input;
      return updateRule(ctx.prisma, ctx.project.id, ctx.user.id, ruleId, change);
    }),

  removeRule: projectProcedure("owner")
    .input(ruleRefInput)
    .mutation(({ ctx, input }) => removeRule(ctx.prisma, ctx.project.id, ctx.user.id, input.ruleId)),
});
