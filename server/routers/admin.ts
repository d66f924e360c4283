import { router, adminProcedure } from "@/server/trpc/init";
import { isSiteAdminEmail } from "@/server/auth/session";
import { TRPCError } from "@trpc/server";
import { dataDir } from "@/lib/config";
import { routeUnroutedInput, unroutedInstanceInput, unroutedListInput } from "@/lib/intake/settings";
import { deidFloorSchema } from "@/lib/site/settings";
import { decideApprovalInput } from "@/lib/intake/preview";
import { decideApproval, listApprovals, setSiteDeidFloor, siteDeidFloor } from "@/server/deid/floor";
import { deleteInstance, listQuarantine, quarantinedInstance, rerouteUnrouted, routeInstanceToProject, viewOriginalHeader } from "@/server/intake/quarantine";
import { reorderSiteRoutingInput, setSiteRoutingInput } from "@/lib/intake/site-routing";
import { listSiteRouting, reorderSiteRouting, setSiteRouting } from "@/server/site/routing";
import { projectCreationInput } from "@/lib/site/settings";
import { projectCreationPolicy, updateSiteSettings } from "@/server/site/settings";
import { siteAuditInput } from "@/lib/site/audit";
import { listSiteAudit } from "@/server/site/audit";

export const adminRouter = router({
  /** Every user with the number of projects they belong to. */
  users: adminProcedure.query(async ({ ctx }) => {
    const users = await ctx.prisma.user.findMany({
      orderBy: { createdAt: "asc" },
      include: { _count: { select: { memberships: true } } },
    });
    // An e-mail of ATRIUM_ADMINS makes only the account its grant is bound to an admin.
    const bound = new Map((await ctx.prisma.siteAdminBinding.findMany()).map((b) => [b.email, b.userId]));
    return users.map((u) => ({
      id: u.id,
      name: u.name,
      email: u.email,
      createdAt: u.createdAt,
      projects: u._count.memberships,
      siteAdmin: isSiteAdminEmail(u.email) && (bound.get(u.email!.toLowerCase()) ?? u.id) === u.id,
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

  // Site governance (issue #17 §1): which projects route the site AE title, who may create
  // projects, and the audit log of every project and of the site. Every change is audited.

  /** The projects enabled for routing the site AE title (in order), and the others. */
  siteRouting: adminProcedure.query(({ ctx }) => listSiteRouting(ctx.prisma)),

  /** Enables a project for site routing (last in the order) or disables it. */
  setSiteRouting: adminProcedure
    .input(setSiteRoutingInput)
    .mutation(({ ctx, input }) => setSiteRouting(ctx.prisma, ctx.user.id, input.projectId, input.enabled)),

  /** The order in which site traffic tries the enabled projects (every enabled project, once). */
  reorderSiteRouting: adminProcedure
    .input(reorderSiteRoutingInput)
    .mutation(({ ctx, input }) => reorderSiteRouting(ctx.prisma, ctx.user.id, input.projectIds)),

  /** Who may create projects: the policy in force, and whether it is the default. */
  projectCreation: adminProcedure.query(({ ctx }) => projectCreationPolicy(ctx.prisma)),

  /** Sets who may create projects (audited as site.settings). */
  setProjectCreation: adminProcedure.input(projectCreationInput).mutation(async ({ ctx, input }) => {
    await updateSiteSettings(ctx.prisma, ctx.user.id, { projectCreation: input.policy });
    return projectCreationPolicy(ctx.prisma);
  }),

  /** The audit log of every project and of the site (projectId null), newest first, filtered and paged. */
  audit: adminProcedure.input(siteAuditInput).query(({ ctx, input }) => listSiteAudit(ctx.prisma, input)),

  /** Deletes an unrouted instance and its staged file for good. */
  deleteUnrouted: adminProcedure.input(unroutedInstanceInput).mutation(async ({ ctx, input }) => {
    return deleteInstance(ctx.prisma, dataDir(), await quarantinedInstance(ctx.prisma, null, input.instanceId), ctx.user.id);
  }),

  // The site de-identification floor (lib/dicom/floor.ts): what every output must pass, and the
  // project settings waiting for an admin's approval to keep more. Decisions are audited in the
  // project's log and the site's.

  /** The floor, the pending approval requests and the latest decisions. */
  deidFloor: adminProcedure.query(async ({ ctx }) => ({ floor: await siteDeidFloor(ctx.prisma), ...(await listApprovals(ctx.prisma)) })),

  /** Sets the retain options every project may use without approval (audited as a site event). */
  setDeidFloor: adminProcedure.input(deidFloorSchema).mutation(({ ctx, input }) => setSiteDeidFloor(ctx.prisma, ctx.user.id, input)),

  /** Approves (and applies to the project) or rejects a pending setting. */
  decideDeidApproval: adminProcedure
    .input(decideApprovalInput)
    .mutation(({ ctx, input }) => decideApproval(ctx.prisma, ctx.user.id, input.approvalId, input.approve, input.note)),
});
