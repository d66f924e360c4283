import { TRPCError } from "@trpc/server";
import { router, projectProcedure } from "@/server/trpc/init";
import {
  cancelInvitationInput,
  changeRoleInput,
  decideAccessInput,
  requestAccessInput,
  inviteMemberInput,
  removeMemberInput,
  wouldRemoveLastOwner,
} from "@/lib/projects";
import { allows, type ProjectRole } from "@/lib/access";
import { writeAudit } from "@/server/audit";
import type { Prisma } from "@/server/db/generated/client";
import { mailInvitation, portalUrl } from "@/server/auth/invitations";
import { invitationLink } from "@/lib/mail/invitation";
import { smtpConfig } from "@/lib/mail/smtp";
import { decideAccess, myAccessRequest, pendingRequests, requestAccess } from "@/server/projects/access-requests";

const lastOwnerError = () =>
  new TRPCError({
    code: "PRECONDITION_FAILED",
    message: "A project needs at least one owner. Make someone else an owner first.",
  });

/**
 * The member a change is about, checked against the last-owner rule. Locks the project row first,
 * which serialises membership changes of one project: two owners cannot demote each other at once.
 */
async function memberForChange(tx: Prisma.TransactionClient, projectId: string, userId: string, newRole: ProjectRole | null) {
  await tx.$queryRaw`SELECT id FROM "Project" WHERE id = ${projectId} FOR UPDATE`;
  const members = await tx.projectMember.findMany({ where: { projectId } });
  const target = members.find((m) => m.userId === userId);
  if (!target) throw unknownMember();
  if (target.role !== newRole && wouldRemoveLastOwner(members, userId, newRole)) throw lastOwnerError();
  return target;
}

const unknownMember = () =>
  new TRPCError({ code: "NOT_FOUND", message: "That user is not a member of this project. Reload the member list." });

export const memberRouter = router({
  /** Someone who sees the project asks to take part (members and owners have access: nothing is recorded). */
  requestAccess: projectProcedure("listed")
    .input(requestAccessInput)
    .mutation(({ ctx, input }) => requestAccess(ctx.prisma, ctx.project.id, ctx.user.id, input.role, input.message)),
  /** The caller's own request, if any (pending, approved or declined). */
  myAccessRequest: projectProcedure("listed").query(({ ctx }) => myAccessRequest(ctx.prisma, ctx.project.id, ctx.user.id)),
  /** Pending requests (owners). */
  accessRequests: projectProcedure("owner").query(({ ctx }) => pendingRequests(ctx.prisma, ctx.project.id)),
  /** An owner approves a request with a role, or declines it; audited. */
  decideAccess: projectProcedure("owner")
    .input(decideAccessInput)
    .mutation(({ ctx, input }) => decideAccess(ctx.prisma, ctx.project.id, ctx.user.id, input.requestId, input.decision, input.role)),

  list: projectProcedure("collaborator").query(async ({ ctx }) => {
    const members = await ctx.prisma.projectMember.findMany({
      where: { projectId: ctx.project.id },
      include: { user: { select: { id: true, name: true, email: true } } },
      orderBy: [{ role: "asc" }, { createdAt: "asc" }],
    });
    const invitations = allows(ctx.project.level, "owner")
      ? await ctx.prisma.projectInvitation.findMany({ where: { projectId: ctx.project.id }, orderBy: { createdAt: "asc" } })
      : [];
    const link = invitationLink(portalUrl(), ctx.project.id);
    return {
      members: members.map((m) => ({ userId: m.userId, name: m.user.name, email: m.user.email, role: m.role, since: m.createdAt })),
      invitations: invitations.map((i) => ({ id: i.id, email: i.email, role: i.role, createdAt: i.createdAt, link })),
      /** Whether invitations are e-mailed (ATRIUM_SMTP_HOST); otherwise owners pass the link on. */
      mailConfigured: smtpConfig() !== null,
    };
  }),

  /**
   * Adds an existing user at once; otherwise the invitation waits until that e-mail first signs in,
   * and is e-mailed when a mail server is configured (the answer says whether it was, and gives the
   * link to pass on when not).
   */
  invite: projectProcedure("owner")
    .input(inviteMemberInput)
    .mutation(async ({ ctx, input }) => {
      const result = await ctx.prisma.$transaction(async (tx) => {
        const user = await tx.user.findUnique({ where: { email: input.email } });
        if (user) {
          const existing = await tx.projectMember.findUnique({
            where: { projectId_userId: { projectId: input.projectId, userId: user.id } },
          });
          if (existing) {
            throw new TRPCError({
              code: "CONFLICT",
              message: `${input.email} is already a ${existing.role} of this project. Change their role instead.`,
            });
          }
          await tx.projectMember.create({ data: { projectId: input.projectId, userId: user.id, role: input.role } });
          await writeAudit(tx, {
            projectId: input.projectId,
            actorId: ctx.user.id,
            action: "member.add",
            targetType: "user",
            targetId: user.id,
            after: { email: input.email, role: input.role },
          });
          return { status: "added" as const, userId: user.id };
        }
        const pending = await tx.projectInvitation.findUnique({
          where: { projectId_email: { projectId: input.projectId, email: input.email } },
        });
        if (pending) {
          throw new TRPCError({
            code: "CONFLICT",
            message: `${input.email} is already invited as ${pending.role}. Cancel that invitation to change it.`,
          });
        }
        const inv = await tx.projectInvitation.create({
          data: { projectId: input.projectId, email: input.email, role: input.role, invitedById: ctx.user.id },
        });
        await writeAudit(tx, {
          projectId: input.projectId,
          actorId: ctx.user.id,
          action: "invitation.create",
          targetType: "invitation",
          targetId: inv.id,
          after: { email: input.email, role: input.role },
        });
        return { status: "invited" as const, invitationId: inv.id, invitation: inv };
      });
      if (result.status === "added") return result;
      const mail = await mailInvitation(ctx.prisma, result.invitation, ctx.user);
      return { status: "invited" as const, invitationId: result.invitationId, mail };
    }),

  changeRole: projectProcedure("owner")
    .input(changeRoleInput)
    .mutation(async ({ ctx, input }) => {
      return ctx.prisma.$transaction(async (tx) => {
        const target = await memberForChange(tx, input.projectId, input.userId, input.role);
        if (target.role === input.role) return { changed: false };
        await tx.projectMember.update({
          where: { projectId_userId: { projectId: input.projectId, userId: input.userId } },
          data: { role: input.role },
        });
        await writeAudit(tx, {
          projectId: input.projectId,
          actorId: ctx.user.id,
          action: "member.role",
          targetType: "user",
          targetId: input.userId,
          before: { role: target.role },
          after: { role: input.role },
        });
        return { changed: true };
      });
    }),

  remove: projectProcedure("owner")
    .input(removeMemberInput)
    .mutation(async ({ ctx, input }) => {
      return ctx.prisma.$transaction(async (tx) => {
        const target = await memberForChange(tx, input.projectId, input.userId, null);
        await tx.projectMember.delete({ where: { projectId_userId: { projectId: input.projectId, userId: input.userId } } });
        await writeAudit(tx, {
          projectId: input.projectId,
          actorId: ctx.user.id,
          action: "member.remove",
          targetType: "user",
          targetId: input.userId,
          before: { role: target.role },
        });
        return { removed: true };
      });
    }),

  cancelInvitation: projectProcedure("owner")
    .input(cancelInvitationInput)
    .mutation(async ({ ctx, input }) => {
      return ctx.prisma.$transaction(async (tx) => {
        const inv = await tx.projectInvitation.findFirst({ where: { id: input.invitationId, projectId: input.projectId } });
        if (!inv) throw new TRPCError({ code: "NOT_FOUND", message: "No such invitation in this project. Reload the member list." });
        await tx.projectInvitation.delete({ where: { id: inv.id } });
        await writeAudit(tx, {
          projectId: input.projectId,
          actorId: ctx.user.id,
          action: "invitation.cancel",
          targetType: "invitation",
          targetId: inv.id,
          before: { email: inv.email, role: inv.role },
        });
        return { cancelled: true };
      });
    }),
});
