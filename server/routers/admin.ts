import { router, adminProcedure } from "@/server/trpc/init";
import { isSiteAdminEmail } from "@/server/auth/session";
import { TRPCError } from "@trpc/server";
import { dataDir } from "@/lib/config";
import { routeUnroutedInput, unroutedInstanceInput, unroutedListInput } from "@/lib/intake/settings";
import { deleteInstance, listQuarantine, quarantinedInstance, rerouteUnrouted, routeInstanceToProject, viewOriginalHeader } from "@/server/intake/quarantine";

export const adminRouter = router({
  /** Every user with the number of projects they belong to. */
  users: adminProcedure.query(async ({ ctx }) => {
    const users = await ctx.prisma.user.findMany({
      orderBy: { createdAt: "asc" },
      include: { _count: { select: { memberships: true } } },
    });
    return users.map((u) => ({
      id: u.id,
      name: u.name,
      email: u.email,
      createdAt: u.createdAt,
      projects: u._count.memberships,
      siteAdmin: isSiteAdminEmail(u.email),
    }));
  }),

  // Instances no project accepted (sent to the site AE title and matched no rule, or whose route
  // went away): only site admins see and act on them; every action is audited.

  /** The unrouted quarantine, with filters. */
  unrouted: adminProcedure.input(unroutedListInput).query(({ ctx, input }) => listQuarantine(ctx.prisma, null, input)),

  /** The original (identifying) header of an unrouted instance; the view is audited. */
  unroutedHeader: adminProcedure.input(unroutedInstanceInput).query(async ({ ctx, input }) => {
    const inst = await quarantinedInstance(ctx.prisma, null, input.instanceId);
    return viewOriginalHeader(ctx.prisma, dataDir(), inst, ctx.user.id);
  }),

  /** Runs the projects' routing rules again (after they changed). */
  rerouteUnrouted: adminProcedure.input(unroutedInstanceInput).mutation(async ({ ctx, input }) => {
    return rerouteUnrouted(ctx.prisma, dataDir(), await quarantinedInstance(ctx.prisma, null, input.instanceId), ctx.user.id);
  }),

  /** Puts an unrouted instance into a project and de-identifies it there. */
  routeUnrouted: adminProcedure.input(routeUnroutedInput).mutation(async ({ ctx, input }) => {
    const inst = await quarantinedInstance(ctx.prisma, null, input.instanceId);
    if (!(await ctx.prisma.project.findUnique({ where: { id: input.targetProjectId }, select: { id: true } }))) {
      throw new TRPCError({ code: "NOT_FOUND", message: `There is no project ${input.targetProjectId}. Check the project id.` });
    }
    return routeInstanceToProject(ctx.prisma, inst, input.targetProjectId, ctx.user.id);
  }),

  /** Deletes an unrouted instance and its staged file for good. */
  deleteUnrouted: adminProcedure.input(unroutedInstanceInput).mutation(async ({ ctx, input }) => {
    return deleteInstance(ctx.prisma, dataDir(), await quarantinedInstance(ctx.prisma, null, input.instanceId), ctx.user.id);
  }),
});
