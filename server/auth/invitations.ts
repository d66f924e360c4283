// Invitations wait for the invited e-mail address to sign in; then they become memberships.
import type { PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";

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
