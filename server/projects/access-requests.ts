// Access requests (issue #21): someone who sees a project but is not a member of it (a protected or
// public project, or a collaborator who needs more) asks to take part; its owners see the request
// on the Members tab and approve it with a role or decline it. Audited; the requester sees where
// their request stands.
import { TRPCError } from "@trpc/server";
import type { PrismaClient } from "@/server/db/generated/client";
import type { ProjectRole } from "@/lib/access";
import { writeAudit } from "@/server/audit";

export async function myAccessRequest(prisma: PrismaClient, projectId: string, userId: string) {
  return prisma.accessRequest.findUnique({ where: { projectId_userId: { projectId, userId } }, select: { id: true, role: true, status: true, message: true, createdAt: true, decidedAt: true } });
}

/**
 * Records (or reopens) the caller's request. A member or owner already has what a request could
 * give: nothing is recorded for them ({status: "has access"}).
 */
export async function requestAccess(prisma: PrismaClient, projectId: string, userId: string, role: "member" | "collaborator", message: string) {
  const m = await prisma.projectMember.findUnique({ where: { projectId_userId: { projectId, userId } }, select: { role: true } });
  if (m && (m.role === "owner" || m.role === "member" || m.role === role)) return { status: "has access" as const, role: m.role };
  const r = await prisma.$transaction(async (tx) => {
    const row = await tx.accessRequest.upsert({
      where: { projectId_userId: { projectId, userId } },
      create: { projectId, userId, role, message },
      update: { role, message, status: "pending", createdAt: new Date(), decidedAt: null, decidedById: null },
    });
    await writeAudit(tx, { projectId, actorId: userId, action: "access.request", targetType: "user", targetId: userId, after: { role } });
    return row;
  });
  return { status: "pending" as const, role: r.role };
}

export async function pendingRequests(prisma: PrismaClient, projectId: string) {
  const rows = await prisma.accessRequest.findMany({
    where: { projectId, status: "pending" },
    orderBy: { createdAt: "asc" },
    select: { id: true, role: true, message: true, createdAt: true, user: { select: { id: true, email: true, name: true } } },
  });
  return rows.map((r) => ({ id: r.id, role: r.role, message: r.message, createdAt: r.createdAt, userId: r.user.id, email: r.user.email, name: r.user.name }));
}

/** An owner's decision: approve makes the requester a member with the role (the asked one by default); decline closes it. */
export async function decideAccess(prisma: PrismaClient, projectId: string, ownerId: string, requestId: string, decision: "approve" | "decline", role?: ProjectRole) {
  return prisma.$transaction(async (tx) => {
    const r = await tx.accessRequest.findFirst({ where: { id: requestId, projectId } });
    if (!r) throw new TRPCError({ code: "NOT_FOUND", message: "No such access request in this project. Reload the Members tab." });
    if (r.status !== "pending") throw new TRPCError({ code: "CONFLICT", message: `This request was ${r.status} already.` });
    const give = role ?? r.role;
    const n = await tx.accessRequest.updateMany({ where: { id: r.id, status: "pending" }, data: { status: decision === "approve" ? "approved" : "declined", decidedAt: new Date(), decidedById: ownerId } });
    if (!n.count) throw new TRPCError({ code: "CONFLICT", message: "Another owner decided on this request meanwhile." });
    if (decision === "approve") {
      const existing = await tx.projectMember.findUnique({ where: { projectId_userId: { projectId, userId: r.userId } } });
      // Approving never lowers a role someone has.
      if (!existing) await tx.projectMember.create({ data: { projectId, userId: r.userId, role: give } });
      else if (existing.role === "collaborator" && give !== "collaborator") await tx.projectMember.update({ where: { projectId_userId: { projectId, userId: r.userId } }, data: { role: give } });
    }
    await writeAudit(tx, { projectId, actorId: ownerId, action: decision === "approve" ? "access.approve" : "access.decline", targetType: "user", targetId: r.userId, after: decision === "approve" ? { role: give } : {} });
    return { status: decision === "approve" ? ("approved" as const) : ("declined" as const), role: decision === "approve" ? give : null };
  });
}
