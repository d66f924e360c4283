import { createHash } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { router, projectProcedure, loadProjectAccess } from "@/server/trpc/init";
import {
  INTAKE_DEFAULTS,
  addAeRouteInput,
  quarantineListInput,
  quarantinedInstanceInput,
  removeAeRouteInput,
  routeToProjectInput,
  updateIntakeSettingsInput,
} from "@/lib/intake/settings";
import { dataDir, siteAeTitle } from "@/lib/config";
import { deleteInstance, listQuarantine, quarantinedInstance, retryInstance, routeInstanceToProject, viewOriginalHeader } from "@/server/intake/quarantine";
import { OPTION_INFO, PROFILE_OPTIONS } from "@/lib/dicom/profile";
import { intakeSummary } from "@/server/intake/summary";
import { writeAudit } from "@/server/audit";
import { fieldChanges } from "@/lib/changes";
import { Prisma } from "@/server/db/generated/client";

/** In audit entries a script is recorded by its size and hash, not its text. */
function auditable(values: Record<string, unknown>) {
  const out: Record<string, unknown> = { ...values };
  if (typeof out.deidScript === "string") out.deidScript = { chars: out.deidScript.length, sha256: createHash("sha256").update(out.deidScript).digest("hex") };
  return out;
}


export const intakeRouter = router({
  /** Intake settings and AE routes; every member may read them (they hold no patient data). */
  settings: projectProcedure("collaborator").query(async ({ ctx }) => {
      const [settings, routes] = await Promise.all([
        ctx.prisma.projectIntake.findUnique({ where: { projectId: ctx.project.id } }),
        ctx.prisma.aeRoute.findMany({ where: { projectId: ctx.project.id }, orderBy: { aeTitle: "asc" } }),
      ]);
      const s = settings ?? INTAKE_DEFAULTS;
      return {
        stableAfterSeconds: s.stableAfterSeconds,
        deidProfile: s.deidProfile,
        hasDeidScript: Boolean(s.deidScript),
        /** The script itself, for owners (who may change it). */
        deidScript: ctx.project.level === "owner" ? s.deidScript : null,
        /** The PS3.15 options a profile may add to "basic". */
        profileOptions: PROFILE_OPTIONS.map((o) => ({ id: o, meaning: OPTION_INFO[o].meaning })),
        /** The site-wide called AE title, routed by the projects' routing rules. */
        siteAeTitle: siteAeTitle(),
        aeRoutes: routes.map((r) => ({ aeTitle: r.aeTitle, allowedCallingAes: r.allowedCallingAes, allowedAddresses: r.allowedAddresses })),
      };
    }),

  updateSettings: projectProcedure("owner")
    .input(updateIntakeSettingsInput)
    .mutation(async ({ ctx, input }) => {
      const { projectId, ...changes } = input;
      return ctx.prisma.$transaction(async (tx) => {
        const diff = fieldChanges((await tx.projectIntake.findUnique({ where: { projectId } })) ?? INTAKE_DEFAULTS, changes);
        if (!diff.fields.length) return { changed: [] as string[] };
        await tx.projectIntake.upsert({ where: { projectId }, create: { projectId, ...diff.after }, update: diff.after });
        await writeAudit(tx, {
          projectId,
          actorId: ctx.user.id,
          action: "intake.settings",
          targetType: "project",
          targetId: projectId,
          before: auditable(diff.before) as Prisma.InputJsonValue,
          after: auditable(diff.after) as Prisma.InputJsonValue,
        });
        return { changed: diff.fields };
      });
    }),

  addAeRoute: projectProcedure("owner")
    .input(addAeRouteInput)
    .mutation(async ({ ctx, input }) => {
      const { projectId, ...route } = input;
      if (route.aeTitle === siteAeTitle()) {
        throw new TRPCError({
          code: "CONFLICT",
          message: `${route.aeTitle} is this site's shared AE title, routed by every project's routing rules. Choose another called AE title, or add routing rules instead.`,
        });
      }
      try {
        return await ctx.prisma.$transaction(async (tx) => {
          await tx.aeRoute.create({ data: { projectId, ...route } });
          await writeAudit(tx, { projectId, actorId: ctx.user.id, action: "intake.ae.add", targetType: "ae", targetId: route.aeTitle, after: route });
          return { aeTitle: route.aeTitle };
        });
      } catch (e) {
        if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002") {
          throw new TRPCError({
            code: "CONFLICT",
            message: `The AE title ${route.aeTitle} already routes to a project. Each called AE title routes to one project; choose another.`,
          });
        }
        throw e;
      }
    }),

  removeAeRoute: projectProcedure("owner")
    .input(removeAeRouteInput)
    .mutation(async ({ ctx, input }) => {
      return ctx.prisma.$transaction(async (tx) => {
        const route = await tx.aeRoute.findFirst({ where: { aeTitle: input.aeTitle, projectId: input.projectId } });
        if (!route) throw new TRPCError({ code: "NOT_FOUND", message: `This project has no AE title ${input.aeTitle}. Reload the settings.` });
        await tx.aeRoute.delete({ where: { aeTitle: route.aeTitle } });
        await writeAudit(tx, {
          projectId: input.projectId,
          actorId: ctx.user.id,
          action: "intake.ae.remove",
          targetType: "ae",
          targetId: route.aeTitle,
          before: { allowedCallingAes: route.allowedCallingAes, allowedAddresses: route.allowedAddresses },
        });
        return { removed: true };
      });
    }),

  /** Counts of instances and studies by state, and the commonest quarantine reasons. */
  summary: projectProcedure("collaborator").query(({ ctx }) => intakeSummary(ctx.prisma, ctx.project.id)),

  /** Quarantined instances with their reasons and reason codes, filtered (no header values: those are for owners, audited). */
  quarantine: projectProcedure("member")
    .input(quarantineListInput)
    .query(({ ctx, input }) => listQuarantine(ctx.prisma, ctx.project.id, input)),

  /** The original (identifying) header of a quarantined instance: owners only, and every view is audited. */
  originalHeader: projectProcedure("owner")
    .input(quarantinedInstanceInput)
    .query(async ({ ctx, input }) => {
      const inst = await quarantinedInstance(ctx.prisma, input.projectId, input.instanceId);
      return viewOriginalHeader(ctx.prisma, dataDir(), inst, ctx.user.id);
    }),

  /** Sends a quarantined instance through de-identification again (after the settings were fixed); accepts it into this project. */
  retry: projectProcedure("owner")
    .input(quarantinedInstanceInput)
    .mutation(async ({ ctx, input }) => retryInstance(ctx.prisma, await quarantinedInstance(ctx.prisma, input.projectId, input.instanceId), ctx.user.id)),

  /** Moves a quarantined instance to another project the caller owns, then de-identifies it there (audited on both). */
  routeToProject: projectProcedure("owner")
    .input(routeToProjectInput)
    .mutation(async ({ ctx, input }) => {
      const inst = await quarantinedInstance(ctx.prisma, input.projectId, input.instanceId);
      const target = await loadProjectAccess(ctx.prisma, ctx.user, input.targetProjectId, "owner");
      if (!target.decision.ok) {
        throw new TRPCError({ code: "FORBIDDEN", message: `You can route instances only to projects you own; you do not own ${input.targetProjectId}.` });
      }
      return routeInstanceToProject(ctx.prisma, inst, input.targetProjectId, ctx.user.id);
    }),

  /** Deletes a quarantined instance and its staged file for good; the audit log keeps that it happened. */
  deleteQuarantined: projectProcedure("owner")
    .input(quarantinedInstanceInput)
    .mutation(async ({ ctx, input }) => deleteInstance(ctx.prisma, dataDir(), await quarantinedInstance(ctx.prisma, input.projectId, input.instanceId), ctx.user.id)),
});
