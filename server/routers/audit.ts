import { router, projectProcedure } from "@/server/trpc/init";
import { auditListInput } from "@/lib/projects";

export const auditRouter = router({
  /** The project's audit log, newest first; owners only. */
  list: projectProcedure("owner")
    .input(auditListInput)
    .query(async ({ ctx, input }) => {
      const rows = await ctx.prisma.auditEvent.findMany({
        where: { projectId: ctx.project.id, ...(input.cursor ? { id: { lt: BigInt(input.cursor) } } : {}) },
        orderBy: { id: "desc" },
        take: input.limit + 1,
        include: { actor: { select: { name: true, email: true } } },
      });
      const page = rows.slice(0, input.limit);
      return {
        events: page.map((e) => ({
          id: e.id.toString(),
          at: e.createdAt,
          action: e.action,
          actor: e.actor ? (e.actor.name ?? e.actor.email) : "system",
          actorEmail: e.actor?.email ?? null,
          targetType: e.targetType,
          targetId: e.targetId,
          before: e.before,
          after: e.after,
        })),
        nextCursor: rows.length > input.limit ? page[page.length - 1]!.id.toString() : null,
      };
    }),
});
