// Reads the audit log: across every project and the site's own events (the site admins' view), or
// one project's (its owners' Audit tab), filtered and paged alike.
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import type { SiteAuditInput } from "@/lib/site/audit";
import { auditEventView } from "@/server/audit";

export async function listSiteAudit(prisma: PrismaClient, input: SiteAuditInput) {
  const actor = input.actor?.trim();
  const where: Prisma.AuditEventWhereInput = {
    ...(input.action ? { action: { contains: input.action, mode: "insensitive" } } : {}),
    ...(input.projectId ? { projectId: input.projectId } : input.siteOnly ? { projectId: null } : {}),
    ...(actor
      ? actor.toLowerCase() === "system"
        ? { actorId: null }
        : { actor: { OR: [{ email: { contains: actor, mode: "insensitive" } }, { name: { contains: actor, mode: "insensitive" } }] } }
      : {}),
    ...(input.from || input.to ? { createdAt: { ...(input.from ? { gte: input.from } : {}), ...(input.to ? { lt: input.to } : {}) } } : {}),
  };
  const [rows, total, actions] = await Promise.all([
    prisma.auditEvent.findMany({
      where: { AND: [where, input.cursor ? { id: { lt: BigInt(input.cursor) } } : {}] },
      orderBy: { id: "desc" },
      take: input.limit + 1,
      include: { actor: { select: { name: true, email: true } }, project: { select: { name: true } } },
    }),
    prisma.auditEvent.count({ where }),
    prisma.auditEvent.groupBy({
      by: ["action"],
      where: input.projectId ? { projectId: input.projectId } : input.siteOnly ? { projectId: null } : {},
      _count: { _all: true },
      orderBy: { action: "asc" },
    }),
  ]);
  const page = rows.slice(0, input.limit);
  return {
    events: page.map((e) => ({ ...auditEventView(e), projectId: e.projectId, projectName: e.project?.name ?? null })),
    nextCursor: rows.length > input.limit ? page[page.length - 1]!.id.toString() : null,
    total,
    /** Every action in the log with its count (for the filter's choices). */
    actions: actions.map((a) => ({ action: a.action, count: a._count._all })),
  };
}
