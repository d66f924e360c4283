import { TRPCError } from "@trpc/server";
import { router, projectProcedure } from "@/server/trpc/init";
import { INTAKE_DEFAULTS, addAeRouteInput, quarantineListInput, quarantinedInstanceInput, removeAeRouteInput, updateIntakeSettingsInput } from "@/lib/intake/settings";
import { rmSync } from "node:fs";
import path from "node:path";
import { dataDir } from "@/lib/config";
import { openSource } from "@/lib/dicom/source";
import { headerRows } from "@/lib/dicom/header-view";
import { queueDeid } from "@/server/intake/queue";
import type { PrismaClient } from "@/server/db/generated/client";
import { intakeSummary } from "@/server/intake/summary";
import { writeAudit } from "@/server/audit";
import { fieldChanges } from "@/lib/changes";
import { Prisma } from "@/server/db/generated/client";

async function quarantined(prisma: PrismaClient, projectId: string, instanceId: string) {
  const inst = await prisma.receivedInstance.findFirst({ where: { id: instanceId, projectId, status: "quarantined" } });
  if (!inst) throw new TRPCError({ code: "NOT_FOUND", message: "No such quarantined instance in this project. Reload the quarantine list." });
  return inst;
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
          before: diff.before as Prisma.InputJsonValue,
          after: diff.after as Prisma.InputJsonValue,
        });
        return { changed: diff.fields };
      });
    }),

  addAeRoute: projectProcedure("owner")
    .input(addAeRouteInput)
    .mutation(async ({ ctx, input }) => {
      const { projectId, ...route } = input;
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

  /** Quarantined instances with their reasons (no header values: those are for owners, audited). */
  quarantine: projectProcedure("member")
    .input(quarantineListInput)
    .query(async ({ ctx, input }) => {
      const rows = await ctx.prisma.receivedInstance.findMany({
        where: { projectId: ctx.project.id, status: "quarantined" },
        orderBy: [{ receivedAt: "desc" }, { id: "desc" }],
        take: input.limit + 1,
        ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
        select: { id: true, receivedAt: true, channel: true, callingAe: true, calledAe: true, reason: true, sizeBytes: true },
      });
      return { items: rows.slice(0, input.limit), nextCursor: rows.length > input.limit ? rows[input.limit - 1]!.id : null };
    }),

  /** The original (identifying) header of a quarantined instance: owners only, and every view is audited. */
  originalHeader: projectProcedure("owner")
    .input(quarantinedInstanceInput)
    .query(async ({ ctx, input }) => {
      const inst = await quarantined(ctx.prisma, input.projectId, input.instanceId);
      await writeAudit(ctx.prisma, { projectId: input.projectId, actorId: ctx.user.id, action: "intake.header.view", targetType: "instance", targetId: inst.id });
      let source;
      try {
        source = openSource(path.join(dataDir(), inst.stagingPath));
      } catch {
        return { error: "The quarantined file is missing from staging." };
      }
      try {
        return headerRows(source);
      } finally {
        source.close?.();
      }
    }),

  /** Sends a quarantined instance through de-identification again (after the settings were fixed). */
  retry: projectProcedure("owner")
    .input(quarantinedInstanceInput)
    .mutation(async ({ ctx, input }) => {
      const inst = await quarantined(ctx.prisma, input.projectId, input.instanceId);
      await ctx.prisma.$transaction(async (tx) => {
        await tx.receivedInstance.update({
          where: { id: inst.id },
          data: { status: "received", reason: null, events: { create: { step: "retry", detail: { by: ctx.user.id, previousReason: inst.reason } } } },
        });
        await writeAudit(tx, { projectId: input.projectId, actorId: ctx.user.id, action: "intake.retry", targetType: "instance", targetId: inst.id, before: { reason: inst.reason } });
      });
      await queueDeid(inst.id);
      return { queued: true };
    }),

  /** Deletes a quarantined instance and its staged file for good; the audit log keeps that it happened. */
  deleteQuarantined: projectProcedure("owner")
    .input(quarantinedInstanceInput)
    .mutation(async ({ ctx, input }) => {
      const inst = await quarantined(ctx.prisma, input.projectId, input.instanceId);
      await ctx.prisma.$transaction(async (tx) => {
        await tx.receivedInstance.delete({ where: { id: inst.id } });
        await writeAudit(tx, {
          projectId: input.projectId,
          actorId: ctx.user.id,
          action: "intake.delete",
          targetType: "instance",
          targetId: inst.id,
          before: { reason: inst.reason, sizeBytes: inst.sizeBytes, sha256: inst.sha256, receivedAt: inst.receivedAt.toISOString() },
        });
      });
      rmSync(path.join(dataDir(), inst.stagingPath), { force: true });
      return { deleted: true };
    }),
});
