// Webhook sources of a project (owners only): create (the secret is shown once), list with the
// last deliveries, enable/disable, rotate the secret, delete. Every change is audited, never
// with a secret in it.
import { randomBytes } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { router, projectProcedure } from "@/server/trpc/init";
import { writeAudit } from "@/server/audit";
import { sealSecret } from "@/server/secrets";
import { newWebhookSecret } from "@/lib/webhooks/signature";
import { createWebhookSourceInput, setWebhookSourceEnabledInput, webhookSourceRef } from "@/lib/webhooks/schema";
import type { PrismaClient } from "@/server/db/generated/client";

const RECENT_DELIVERIES = 5;

async function sourceOf(prisma: PrismaClient, projectId: string, sourceId: string) {
  const s = await prisma.webhookSource.findFirst({ where: { id: sourceId, projectId } });
  if (!s) throw new TRPCError({ code: "NOT_FOUND", message: "This project has no such webhook source. Reload the list." });
  return s;
}

export const webhookRouter = router({
  list: projectProcedure("owner").query(async ({ ctx }) => {
    const sources = await ctx.prisma.webhookSource.findMany({
      where: { projectId: ctx.project.id },
      orderBy: { createdAt: "asc" },
      include: {
        createdBy: { select: { email: true, name: true } },
        deliveries: {
          orderBy: { receivedAt: "desc" },
          take: RECENT_DELIVERIES,
          select: { id: true, receivedAt: true, status: true, instancesListed: true, instancesPulled: true, instancesFailed: true, attempts: true, error: true, finishedAt: true },
        },
        _count: { select: { deliveries: true } },
      },
    });
    return sources.map((s) => ({
      id: s.id,
      name: s.name,
      path: `/api/webhooks/${s.id}`,
      nodeKind: s.nodeKind,
      nodeUrl: s.nodeUrl,
      nodeAuth: s.nodeAuth,
      nodeUser: s.nodeUser,
      enabled: s.enabled,
      createdAt: s.createdAt,
      createdBy: s.createdBy?.name ?? s.createdBy?.email ?? null,
      lastDeliveryAt: s.lastDeliveryAt,
      deliveryCount: s._count.deliveries,
      recentDeliveries: s.deliveries,
    }));
  }),

  /** Creates a source; the answer holds the signing secret, which is never shown again. */
  create: projectProcedure("owner")
    .input(createWebhookSourceInput)
    .mutation(async ({ ctx, input }) => {
      const id = `wh_${randomBytes(12).toString("base64url")}`;
      const secret = newWebhookSecret();
      const { projectId, nodeSecret, ...rest } = input;
      await ctx.prisma.$transaction(async (tx) => {
        await tx.webhookSource.create({
          data: {
            id,
            projectId,
            name: rest.name,
            nodeKind: rest.nodeKind,
            nodeUrl: rest.nodeUrl,
            nodeAuth: rest.nodeAuth,
            nodeUser: rest.nodeAuth === "basic" ? (rest.nodeUser ?? null) : null,
            nodeSecretSealed: rest.nodeAuth !== "none" && nodeSecret ? sealSecret(nodeSecret, { table: "WebhookSource", id, field: "nodeSecretSealed" }) : null,
            secretSealed: sealSecret(secret, { table: "WebhookSource", id, field: "secretSealed" }),
            createdById: ctx.user.id,
          },
        });
        await writeAudit(tx, {
          projectId,
          actorId: ctx.user.id,
          action: "webhook.create",
          targetType: "webhook",
          targetId: id,
          after: { name: rest.name, nodeKind: rest.nodeKind, nodeUrl: rest.nodeUrl, nodeAuth: rest.nodeAuth },
        });
      });
      return { id, path: `/api/webhooks/${id}`, secret, nodeKind: rest.nodeKind };
    }),

  setEnabled: projectProcedure("owner")
    .input(setWebhookSourceEnabledInput)
    .mutation(async ({ ctx, input }) => {
      const s = await sourceOf(ctx.prisma, input.projectId, input.sourceId);
      if (s.enabled === input.enabled) return { enabled: s.enabled };
      await ctx.prisma.$transaction(async (tx) => {
        await tx.webhookSource.update({ where: { id: s.id }, data: { enabled: input.enabled } });
        await writeAudit(tx, {
          projectId: input.projectId,
          actorId: ctx.user.id,
          action: input.enabled ? "webhook.enable" : "webhook.disable",
          targetType: "webhook",
          targetId: s.id,
          before: { enabled: s.enabled },
          after: { enabled: input.enabled },
        });
      });
      return { enabled: input.enabled };
    }),

  /** A new signing secret (shown once); the old one stops working at once. */
  rotateSecret: projectProcedure("owner")
    .input(webhookSourceRef)
    .mutation(async ({ ctx, input }) => {
      const s = await sourceOf(ctx.prisma, input.projectId, input.sourceId);
      const secret = newWebhookSecret();
      await ctx.prisma.$transaction(async (tx) => {
        await tx.webhookSource.update({ where: { id: s.id }, data: { secretSealed: sealSecret(secret, { table: "WebhookSource", id: s.id, field: "secretSealed" }) } });
        await writeAudit(tx, { projectId: input.projectId, actorId: ctx.user.id, action: "webhook.rotate", targetType: "webhook", targetId: s.id });
      });
      return { id: s.id, path: `/api/webhooks/${s.id}`, secret, nodeKind: s.nodeKind };
    }),

  /** Deletes the source and its delivery history; instances already received stay in the project. */
  remove: projectProcedure("owner")
    .input(webhookSourceRef)
    .mutation(async ({ ctx, input }) => {
      const s = await sourceOf(ctx.prisma, input.projectId, input.sourceId);
      await ctx.prisma.$transaction(async (tx) => {
        await tx.webhookSource.delete({ where: { id: s.id } });
        await writeAudit(tx, {
          projectId: input.projectId,
          actorId: ctx.user.id,
          action: "webhook.delete",
          targetType: "webhook",
          targetId: s.id,
          before: { name: s.name, nodeKind: s.nodeKind, nodeUrl: s.nodeUrl, enabled: s.enabled },
        });
      });
      return { removed: true };
    }),
});
