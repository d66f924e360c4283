import { createHash } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { router, projectProcedure, loadProjectAccess } from "@/server/trpc/init";
import {
  INTAKE_DEFAULTS,
  addAeRouteInput,
  bulkQuarantineInput,
  quarantineListInput,
  quarantinedInstanceInput,
  removeAeRouteInput,
  routeToProjectInput,
  updateIntakeSettingsInput,
} from "@/lib/intake/settings";
import { dataDir, dicomPort, publicDicomHost, siteAeTitle } from "@/lib/config";
import { deleteInstance, listQuarantine, quarantinedInstance, retryInstance, routeInstanceToProject, viewOriginalHeader } from "@/server/intake/quarantine";
import { OPTION_INFO, PROFILE_OPTIONS } from "@/lib/dicom/profile";
import { intakeSummary } from "@/server/intake/summary";
import { bulkQuarantine } from "@/server/intake/bulk";
import { writeAudit } from "@/server/audit";
import { fieldChanges } from "@/lib/changes";
import { Prisma } from "@/server/db/generated/client";
import { activeSetting, gateSetting, pendingForProject, settingHash, siteDeidFloor, type PendingApproval } from "@/server/deid/floor";
import { previewDeidInput, previewSamplesInput } from "@/lib/intake/preview";
import { previewForOwner, previewSamples } from "@/server/deid/preview";

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
        /** A submitted setting waiting for a site admin's approval (what it keeps, never values). */
        pendingApproval: await pendingForProject(ctx.prisma, ctx.project.id),
        /** The site de-identification floor (retain options every project may use). */
        deidFloor: await siteDeidFloor(ctx.prisma),
        /** The PS3.15 options a profile may add to "basic". */
        profileOptions: PROFILE_OPTIONS.map((o) => ({ id: o, meaning: OPTION_INFO[o].meaning })),
        /** The site-wide called AE title, routed by the projects' routing rules. */
        siteAeTitle: siteAeTitle(),
        /** Where senders reach the DICOM listener (ATRIUM_PUBLIC_DICOM_HOST, the listener's port; 0: no listener). */
        dicomAddress: { host: publicDicomHost(), port: dicomPort() },
        aeRoutes: routes.map((r) => ({ aeTitle: r.aeTitle, allowedCallingAes: r.allowedCallingAes, allowedAddresses: r.allowedAddresses })),
      };
    }),

  updateSettings: projectProcedure("owner")
    .input(updateIntakeSettingsInput)
    .mutation(async ({ ctx, input }) => {
      const { projectId, ...requested } = input;
      return ctx.prisma.$transaction(async (tx) => {
        const current = (await tx.projectIntake.findUnique({ where: { projectId } })) ?? INTAKE_DEFAULTS;
        // A de-identification setting that keeps what the site floor removes is applied only
        // once a site admin approved exactly that setting; until then it waits as a request.
        let pendingApproval: PendingApproval | undefined;
        const changes: Partial<typeof requested> = { ...requested };
        if (requested.deidScript !== undefined || requested.deidProfile !== undefined) {
          const next = activeSetting({
            deidProfile: requested.deidProfile ?? current.deidProfile,
            deidScript: requested.deidScript !== undefined ? requested.deidScript : current.deidScript,
          });
          if (settingHash(next) !== settingHash(activeSetting(current))) pendingApproval = await gateSetting(tx, projectId, ctx.user.id, next);
          if (pendingApproval) {
            delete changes.deidScript;
            delete changes.deidProfile;
          }
        }
        const diff = fieldChanges(current, changes);
        if (!diff.fields.length) return { changed: [] as string[], ...(pendingApproval ? { pendingApproval } : {}) };
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
        return { changed: diff.fields, ...(pendingApproval ? { pendingApproval } : {}) };
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
      const taken = async () => {
        const existing = await ctx.prisma.aeRoute.findUnique({ where: { aeTitle: route.aeTitle }, select: { projectId: true } });
        if (!existing) return null;
        if (existing.projectId === projectId) return `This project already receives on the AE title ${route.aeTitle}; there is nothing to add.`;
        // The other project is named only to those who may see it.
        const other = await loadProjectAccess(ctx.prisma, ctx.user, existing.projectId, "listed");
        const where = other.decision.ok ? `project ${existing.projectId}` : "another project";
        return `The AE title ${route.aeTitle} already routes to ${where}. Each called AE title routes to exactly one project: choose another AE title for this project${other.decision.ok ? `, or remove it from ${existing.projectId} first` : ""}.`;
      };
      const conflict = await taken();
      if (conflict) throw new TRPCError({ code: "CONFLICT", message: conflict });
      try {
        return await ctx.prisma.$transaction(async (tx) => {
          await tx.aeRoute.create({ data: { projectId, ...route } });
          await writeAudit(tx, { projectId, actorId: ctx.user.id, action: "intake.ae.add", targetType: "ae", targetId: route.aeTitle, after: route });
          return { aeTitle: route.aeTitle };
        });
      } catch (e) {
        // Claimed by another project between the check and the insert.
        if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002") {
          throw new TRPCError({ code: "CONFLICT", message: (await taken()) ?? `The AE title ${route.aeTitle} was just taken by another project; choose another.` });
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

  /**
   * Before/after of a de-identification setting (the given one, else the project's) on a sample:
   * a staged instance of the project or an uploaded file. Shows original values: owners only,
   * and every view is audited like the original-header view.
   */
  previewDeid: projectProcedure("owner")
    .input(previewDeidInput)
    .mutation(async ({ ctx, input }) => previewForOwner(ctx.prisma, dataDir(), ctx.user.id, input)),

  /** Instances of the project whose staged file can serve as a preview sample (no header values). */
  previewSamples: projectProcedure("owner")
    .input(previewSamplesInput)
    .query(({ ctx, input }) => previewSamples(ctx.prisma, dataDir(), input.projectId)),

  /**
   * Retries, routes (to a project the caller owns) or deletes the next chunk of a selection of the
   * quarantine (rows picked across pages, or every row matching the filters); answers how many it
   * acted on and how many remain, and the portal calls it again until none remain.
   */
  quarantineBulk: projectProcedure("owner")
    .input(bulkQuarantineInput)
    .mutation(async ({ ctx, input }) => {
      if (input.action === "route") {
        const target = await loadProjectAccess(ctx.prisma, ctx.user, input.targetProjectId!, "owner");
        if (!target.decision.ok) {
          throw new TRPCError({ code: "FORBIDDEN", message: `You can route instances only to projects you own; you do not own ${input.targetProjectId}.` });
        }
      }
      return bulkQuarantine(ctx.prisma, dataDir(), input, ctx.user.id);
    }),

  /** Deletes a quarantined instance and its staged file for good; the audit log keeps that it happened. */
  deleteQuarantined: projectProcedure("owner")
    .input(quarantinedInstanceInput)
    .mutation(async ({ ctx, input }) => deleteInstance(ctx.prisma, dataDir(), await quarantinedInstance(ctx.prisma, input.projectId, input.instanceId), ctx.user.id)),
});
