// Reads and changes the site settings (one row). Every change is audited as a site event
// (projectId null) in the same transaction.
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { SITE_SETTINGS_ID, decideProjectCreation, effectiveProjectCreation } from "@/lib/site/settings";
import { siteAdminEmails } from "@/lib/config";
import { writeAudit } from "@/server/audit";

type Db = Pick<PrismaClient, "siteSettings"> | Prisma.TransactionClient;

export async function readSiteSettings(db: Db) {
  return db.siteSettings.findUnique({ where: { id: SITE_SETTINGS_ID } });
}

/** Applies `data` to the site settings row (creating it), audited as `site.settings` with before/after. */
export async function updateSiteSettings(
  prisma: PrismaClient,
  actorId: string | null,
  data: Omit<Prisma.SiteSettingsUncheckedCreateInput, "id" | "updatedById">,
) {
  return prisma.$transaction(async (tx) => {
    const before = await tx.siteSettings.findUnique({ where: { id: SITE_SETTINGS_ID } });
    const after = await tx.siteSettings.upsert({
      where: { id: SITE_SETTINGS_ID },
      create: { ...data, id: SITE_SETTINGS_ID, updatedById: actorId },
      update: { ...data, updatedById: actorId },
    });
    await writeAudit(tx, {
      projectId: null,
      actorId,
      action: "site.settings",
      targetType: "site",
      targetId: SITE_SETTINGS_ID,
      before: before ? (JSON.parse(JSON.stringify(before)) as Prisma.InputJsonValue) : undefined,
      after: JSON.parse(JSON.stringify(after)) as Prisma.InputJsonValue,
    });
    return after;
  });
}

/** Who may create projects now: the stored choice, or the default (lib/site/settings.ts). */
export async function projectCreationPolicy(db: Db) {
  const stored = (await readSiteSettings(db))?.projectCreation ?? null;
  const siteHasAdmins = siteAdminEmails().size > 0;
  return { ...effectiveProjectCreation(stored, siteHasAdmins), siteHasAdmins };
}

/** Whether `user` may create a project, and if not, why (for the procedure and the portal). */
export async function projectCreationFor(db: Db, user: { siteAdmin: boolean }) {
  const { policy, isDefault, siteHasAdmins } = await projectCreationPolicy(db);
  return { policy, isDefault, ...decideProjectCreation(policy, user, siteHasAdmins) };
}
