// Site routing decided by site admins: which projects the site AE title routes to, and in what
// order. Every change is audited twice, in one transaction: as a site event (projectId null) and in
// each affected project's log. The caller (adminProcedure) has checked the actor is a site admin.
import { TRPCError } from "@trpc/server";
import type { PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import { clearRuleCache } from "@/server/intake/routing";
import { isPermutation } from "@/lib/intake/site-routing";
import { siteAeTitle } from "@/lib/config";

/** Every project with its rule counts: the enabled ones in routing order, then the others by id. */
export async function listSiteRouting(prisma: PrismaClient) {
  const projects = await prisma.project.findMany({
    orderBy: { id: "asc" },
    select: {
      id: true,
      name: true,
      siteRouting: { select: { position: true, enabledAt: true, enabledById: true } },
      routingRules: { select: { enabled: true, expression: true }, orderBy: [{ position: "asc" }, { createdAt: "asc" }] },
    },
  });
  const row = (p: (typeof projects)[number]) => ({
    projectId: p.id,
    name: p.name,
    enabledRules: p.routingRules.filter((r) => r.enabled).length,
    totalRules: p.routingRules.length,
    /** The enabled rules' expressions, in order: what site traffic would be matched against. */
    rules: p.routingRules.filter((r) => r.enabled).map((r) => r.expression),
  });
  const enabled = projects
    .filter((p) => p.siteRouting)
    .sort((a, b) => a.siteRouting!.position - b.siteRouting!.position || a.id.localeCompare(b.id))
    .map((p, i) => ({ ...row(p), position: i + 1, enabledAt: p.siteRouting!.enabledAt }));
  const others = projects.filter((p) => !p.siteRouting).map(row);
  return { siteAeTitle: siteAeTitle(), enabled, others };
}

/** What the project's routing panel shows: whether site traffic consults its rules, and where. */
export async function projectSiteRouting(prisma: PrismaClient, projectId: string) {
  const order = await prisma.siteRoutingProject.findMany({ orderBy: [{ position: "asc" }, { projectId: "asc" }], select: { projectId: true } });
  const index = order.findIndex((p) => p.projectId === projectId);
  return { siteAeTitle: siteAeTitle(), enabled: index >= 0, position: index >= 0 ? index + 1 : null, of: order.length };
}

/** Enables a project (last in the order) or disables it (the others close up). */
export async function setSiteRouting(prisma: PrismaClient, actorId: string, projectId: string, enabled: boolean) {
  const result = await prisma.$transaction(async (tx) => {
    const project = await tx.project.findUnique({ where: { id: projectId }, select: { id: true, siteRouting: true } });
    if (!project) throw new TRPCError({ code: "NOT_FOUND", message: `There is no project ${projectId}. Reload the list.` });
    if (Boolean(project.siteRouting) === enabled) return { changed: false };
    const order = (await tx.siteRoutingProject.findMany({ orderBy: [{ position: "asc" }, { projectId: "asc" }], select: { projectId: true } })).map((p) => p.projectId);
    if (enabled) {
      const position = order.length + 1;
      await tx.siteRoutingProject.create({ data: { projectId, position, enabledById: actorId } });
      await writeAudit(tx, { projectId: null, actorId, action: "site.routing.enable", targetType: "project", targetId: projectId, before: order, after: [...order, projectId] });
      await writeAudit(tx, { projectId, actorId, action: "site.routing.enable", targetType: "project", targetId: projectId, after: { enabled: true, position } });
    } else {
      await tx.siteRoutingProject.delete({ where: { projectId } });
      const rest = order.filter((id) => id !== projectId);
      for (const [i, id] of rest.entries()) await tx.siteRoutingProject.update({ where: { projectId: id }, data: { position: i + 1 } });
      await writeAudit(tx, { projectId: null, actorId, action: "site.routing.disable", targetType: "project", targetId: projectId, before: order, after: rest });
      await writeAudit(tx, { projectId, actorId, action: "site.routing.disable", targetType: "project", targetId: projectId, before: { enabled: true, position: order.indexOf(projectId) + 1 }, after: { enabled: false } });
    }
    return { changed: true };
  });
  clearRuleCache();
  return result;
}

/** Sets the order of the enabled projects; `projectIds` must name each of them once. */
export async function reorderSiteRouting(prisma: PrismaClient, actorId: string, projectIds: string[]) {
  await prisma.$transaction(async (tx) => {
    const order = (await tx.siteRoutingProject.findMany({ orderBy: [{ position: "asc" }, { projectId: "asc" }], select: { projectId: true } })).map((p) => p.projectId);
    if (!isPermutation(order, projectIds)) {
      throw new TRPCError({
        code: "CONFLICT",
        message: "The new order must name every project enabled for site routing once, and no other. Reload the list (it may have changed meanwhile) and try again.",
      });
    }
    for (const [i, id] of projectIds.entries()) await tx.siteRoutingProject.update({ where: { projectId: id }, data: { position: i + 1 } });
    await writeAudit(tx, { projectId: null, actorId, action: "site.routing.reorder", targetType: "site", targetId: "routing", before: order, after: projectIds });
    for (const [i, id] of projectIds.entries()) {
      const was = order.indexOf(id);
      if (was === i) continue;
      await writeAudit(tx, { projectId: id, actorId, action: "site.routing.reorder", targetType: "project", targetId: id, before: { enabled: true, position: was + 1 }, after: { enabled: true, position: i + 1 } });
    }
  });
  clearRuleCache();
  return { reordered: true };
}
