import { router, publicProcedure } from "@/server/trpc/init";

export const meRouter = router({
  /** The signed-in user, or null. */
  get: publicProcedure.query(({ ctx }) => ctx.user),
});
