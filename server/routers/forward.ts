// A project's forward destinations (C-STORE nodes and STOW-RS servers; secrets sealed, never
// returned), their connection test, per-destination state and failures, and retry. Owners
// configure; collaborators see where data goes and its state. Changes are audited without secrets.
import { TRPCError } from "@trpc/server";
import { router, projectProcedure } from "@/server/trpc/init";
import { writeAudit } from "@/server/audit";
import { openSecret } from "@/server/secrets";
import { createDestinationInput, destinationRefInput, forwardStatusInput, retryForwardInput, setDestinationEnabledInput, testDestinationInput, updateDestinationInput } from "@/lib/forward/schema";
import { testStow, type StowAuth } from "@/lib/forward/stow";
import { cEcho } from "@/lib/dicom-net/echo";
import { queueForwardJob, retryForward } from "@/server/forward/queue";
import { columns, createDestination, forwardStatus, sealedFor, slot, view } from "@/server/forward/destinations";

export const forwardRouter = router({
  destinations: projectProcedure("collaborator").query(async ({ ctx }) => {
    const rows = await ctx.prisma.forwardDestination.findMany({ where: { projectId: ctx.project.id }, orderBy: { createdAt: "asc" } });
    return rows.map(view);
  }),

  create: projectProcedure("owner")
    .input(createDestinationInput)
    .mutation(async ({ ctx, input }) => view(await createDestination(ctx.prisma, { projectId: ctx.project.id, actorId: ctx.user.id, destination: input.destination, backfill: input.backfill }))),

  update: projectProcedure("owner")
    .input(updateDestinationInput)
    .mutation(async ({ ctx, input }) => {
      const projectId = ctx.project.id;
      const before = await ctx.prisma.forwardDestination.findFirst({ where: { id: input.destinationId, projectId } });
      if (!before) throw new TRPCError({ code: "NOT_FOUND", message: "This project has no such destination. Reload the list." });
      const sealed = sealedFor(before.id, input.destination, before);
      const saved = await ctx.prisma.$transaction(async (tx) => {
        const d = await tx.forwardDestination.update({ where: { id: before.id }, data: { ...columns(input.destination), secretSealed: sealed } });
        await writeAudit(tx, {
          projectId,
          actorId: ctx.user.id,
          action: "forward.update",
          targetType: "forwardDestination",
          targetId: d.id,
          before: { ...view(before), updatedAt: undefined },
          after: { ...view(d), updatedAt: undefined, secretChanged: Boolean(input.destination.kind === "stow" && input.destination.secret) },
        });
        return d;
      });
      return view(saved);
    }),

  setEnabled: projectProcedure("owner")
    .input(setDestinationEnabledInput)
    .mutation(async ({ ctx, input }) => {
      const projectId = ctx.project.id;
      const before = await ctx.prisma.forwardDestination.findFirst({ where: { id: input.destinationId, projectId } });
      if (!before) throw new TRPCError({ code: "NOT_FOUND", message: "This project has no such destination. Reload the list." });
      await ctx.prisma.$transaction(async (tx) => {
        await tx.forwardDestination.update({ where: { id: before.id }, data: { enabled: input.enabled } });
        await writeAudit(tx, { projectId, actorId: ctx.user.id, action: "forward.enabled", targetType: "forwardDestination", targetId: before.id, before: { enabled: before.enabled }, after: { enabled: input.enabled } });
      });
      return { enabled: input.enabled };
    }),

  remove: projectProcedure("owner")
    .input(destinationRefInput)
    .mutation(async ({ ctx, input }) => {
      const projectId = ctx.project.id;
      const before = await ctx.prisma.forwardDestination.findFirst({ where: { id: input.destinationId, projectId } });
      if (!before) throw new TRPCError({ code: "NOT_FOUND", message: "This project has no such destination. Reload the list." });
      await ctx.prisma.$transaction(async (tx) => {
        await tx.forwardDestination.delete({ where: { id: before.id } });
        await writeAudit(tx, { projectId, actorId: ctx.user.id, action: "forward.remove", targetType: "forwardDestination", targetId: before.id, before: { ...view(before), updatedAt: undefined } });
      });
      return { removed: true };
    }),

  /** C-ECHO (DICOM node) or a QIDO-RS query (STOW-RS server): what to fix. */
  testConnection: projectProcedure("owner")
    .input(testDestinationInput)
    .mutation(async ({ ctx, input }): Promise<{ ok: boolean; message: string }> => {
      const saved = input.destinationId ? await ctx.prisma.forwardDestination.findFirst({ where: { id: input.destinationId, projectId: ctx.project.id } }) : null;
      const form = input.destination;
      if (!form && !saved) return { ok: false, message: "Choose a saved destination or fill in the form to test." };
      if (form?.kind === "dicom" || (!form && saved!.kind === "dicom")) {
        const d = form?.kind === "dicom" ? form : { host: saved!.host!, port: saved!.port!, calledAe: saved!.calledAe!, callingAe: saved!.callingAe ?? "ATRIUM" };
        const r = await cEcho({ host: d.host, port: d.port, calledAe: d.calledAe, callingAe: d.callingAe });
        return { ok: r.ok, message: r.message };
      }
      const url = form?.kind === "stow" ? form.stowUrl : saved!.stowUrl!;
      const authKind = form?.kind === "stow" ? form.authKind : saved!.authKind;
      const user = form?.kind === "stow" ? (form.authUser ?? "") : (saved!.authUser ?? "");
      let secret = form?.kind === "stow" ? form.secret : undefined;
      if (!secret && authKind !== "none" && saved?.secretSealed && saved.stowUrl === url) {
        try {
          secret = openSecret(saved.secretSealed, slot(saved.id));
        } catch {
          secret = undefined;
        }
      }
      if (authKind !== "none" && !secret) return { ok: false, message: "Enter the token (or password) to test: the stored one is used only for the saved URL." };
      const auth: StowAuth = authKind === "bearer" ? { kind: "bearer", token: secret! } : authKind === "basic" ? { kind: "basic", user, password: secret! } : { kind: "none" };
      return testStow(url, auth);
    }),

  /** Per destination: counts of studies by state, delivered instances by outcome, recent forwards and failures. */
  status: projectProcedure("collaborator")
    .input(forwardStatusInput)
    .query(({ ctx, input }) => forwardStatus(ctx.prisma, ctx.project.id, input.limit)),

  retry: projectProcedure("owner")
    .input(retryForwardInput)
    .mutation(async ({ ctx, input }) => {
      const row = await retryForward(ctx.prisma, ctx.project.id, input.forwardId);
      if (!row) throw new TRPCError({ code: "NOT_FOUND", message: "This project has no failed forward with that id (it may be queued or verified already). Reload the list." });
      await writeAudit(ctx.prisma, { projectId: ctx.project.id, actorId: ctx.user.id, action: "forward.retry", targetType: "studyForward", targetId: row.id, before: { state: "failed" }, after: { state: "queued" } });
      await queueForwardJob(row.id, row.queuedAt, 1).catch(() => undefined);
      return { state: row.state };
    }),
});
