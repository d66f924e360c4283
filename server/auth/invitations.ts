// Invitations wait for the invited e-mail address to sign in; then they become memberships.
import type { PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import type { ProjectRole } from "@/lib/access";
import { readEnv } from "@/lib/config";
import { MailError, sendSmtp, smtpConfig } from "@/lib/mail/smtp";
import { invitationLink, invitationMail } from "@/lib/mail/invitation";
import { childLog } from "@/lib/log";

const log = childLog("invitations");

export async function acceptPendingInvitations(prisma: PrismaClient, user: { id: string; email: string | null }) {
  if (!user.email) return 0;
  const email = user.email.toLowerCase();
  return prisma.$transaction(async (tx) => {
    const invitations = await tx.projectInvitation.findMany({ where: { email } });
    for (const inv of invitations) {
      const existing = await tx.projectMember.findUnique({
        where: { projectId_userId: { projectId: inv.projectId, userId: user.id } },
      });
      if (!existing) {
        await tx.projectMember.create({ data: { projectId: inv.projectId, userId: user.id, role: inv.role } });
        await writeAudit(tx, {
          projectId: inv.projectId,
          actorId: user.id,
          action: "invitation.accept",
          targetType: "user",
          targetId: user.id,
          after: { email, role: inv.role },
        });
      }
      await tx.projectInvitation.delete({ where: { id: inv.id } });
    }
    return invitations.length;
  });
}

export type InvitationMailOutcome =
  | { sent: true; link: string }
  | { sent: false; reason: "not-configured"; message: string; link: string }
  | { sent: false; reason: "failed"; message: string; link: string };

/** The portal's public base URL, as links in e-mails give it (NEXTAUTH_URL; `atrium start` sets it). */
export function portalUrl(): string {
  const env = readEnv();
  return env.NEXTAUTH_URL ?? `http://localhost:${env.PORT}`;
}

/**
 * Sends the invitation e-mail through the configured SMTP server (lib/mail), after the invitation
 * was stored: a mail server that is down never loses an invitation, the owner is told and gets the
 * link to pass on. The outcome is audited (invitation.mail), without the server's answer.
 */
export async function mailInvitation(
  prisma: PrismaClient,
  inv: { id: string; projectId: string; email: string; role: ProjectRole },
  inviter: { id: string; name: string | null; email: string | null },
): Promise<InvitationMailOutcome> {
  const base = portalUrl();
  const link = invitationLink(base, inv.projectId);
  const server = smtpConfig();
  let outcome: InvitationMailOutcome;
  if (!server) {
    outcome = { sent: false, reason: "not-configured", link, message: "No mail server is configured (ATRIUM_SMTP_HOST), so no e-mail was sent. Copy the link and send it yourself." };
  } else {
    const project = await prisma.project.findUnique({ where: { id: inv.projectId }, select: { name: true } });
    const mail = invitationMail({ projectId: inv.projectId, projectName: project?.name ?? inv.projectId, role: inv.role, inviter: inviter.name ?? inviter.email ?? "A project owner", portalUrl: base });
    try {
      await sendSmtp(server, { to: [inv.email], ...mail });
      outcome = { sent: true, link };
    } catch (e) {
      log.warn({ invitationId: inv.id, err: (e as Error).name }, "invitation mail not sent");
      outcome = { sent: false, reason: "failed", link, message: `The invitation is saved, but the e-mail could not be sent: ${e instanceof MailError ? e.message : "the mail server failed"}. Copy the link and send it yourself.` };
    }
  }
  await writeAudit(prisma, {
    projectId: inv.projectId,
    actorId: inviter.id,
    action: "invitation.mail",
    targetType: "invitation",
    targetId: inv.id,
    after: { sent: outcome.sent, ...(outcome.sent ? {} : { reason: outcome.reason }) },
  });
  return outcome;
}
