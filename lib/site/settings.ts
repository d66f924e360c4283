// Site-wide settings that site administrators decide (schema shared by the admin API and readers).
// Each capability adds its own field here; absent fields take their documented default.
import { z } from "zod";
import { RETAIN_OPTIONS } from "@/lib/dicom/retain";

export const SITE_SETTINGS_ID = "site";

/**
 * The site de-identification floor (lib/dicom/floor.ts): PS3.15 Basic, loosened only by the
 * retain options listed here, which every project may then use without an admin's approval.
 * Default (column null): Basic, no retain option.
 */
export const deidFloorSchema = z
  .object({
    allowedRetain: z.array(z.enum(RETAIN_OPTIONS, { error: `Choose among ${RETAIN_OPTIONS.join(", ")}.` })).max(RETAIN_OPTIONS.length).default([]),
  })
  .strict();
export type DeidFloor = z.infer<typeof deidFloorSchema>;
export const DEFAULT_DEID_FLOOR: DeidFloor = { allowedRetain: [] };

/** The floor stored in SiteSettings.deidFloor (null or unreadable: the default, the strictest). */
export function readDeidFloor(json: unknown): DeidFloor {
  const r = deidFloorSchema.safeParse(json ?? DEFAULT_DEID_FLOOR);
  return r.success ? { allowedRetain: [...new Set(r.data.allowedRetain)].sort() } : DEFAULT_DEID_FLOOR;
}

/** What changes an admin may submit; each field optional (only given fields change). */
export const siteSettingsPatch = z.object({ deidFloor: deidFloorSchema.optional() }).strict();
export type SiteSettingsPatch = z.infer<typeof siteSettingsPatch>;

// ---- Who may create projects (as XNAT offers): everyone signed in, or site admins only ----------

export const PROJECT_CREATION_POLICIES = ["all", "admins"] as const;
export type ProjectCreationPolicy = (typeof PROJECT_CREATION_POLICIES)[number];

export const projectCreationInput = z.object({
  policy: z.enum(PROJECT_CREATION_POLICIES, { message: 'Choose "all" (every signed-in user) or "admins" (site administrators only).' }),
});

/**
 * The policy in force. Stored: what a site admin chose. Unset: `admins` as soon as the site has
 * administrators (ATRIUM_ADMINS), because a project's owner decides where identifiable data goes;
 * `all` on a site with none (a fresh install, the development sign-in), where nobody could create a
 * project or change this setting otherwise.
 */
export function effectiveProjectCreation(stored: ProjectCreationPolicy | null | undefined, siteHasAdmins: boolean) {
  const policy: ProjectCreationPolicy = stored ?? (siteHasAdmins ? "admins" : "all");
  return { policy, isDefault: stored == null };
}

/** Whether a signed-in user may create a project under `policy`, and if not, why and what to do. */
export function decideProjectCreation(policy: ProjectCreationPolicy, user: { siteAdmin: boolean }, siteHasAdmins: boolean): { allowed: true } | { allowed: false; reason: string } {
  if (policy === "all" || user.siteAdmin) return { allowed: true };
  return {
    allowed: false,
    reason: siteHasAdmins
      ? "On this site only site administrators create projects. Ask a site administrator to create it and make you its owner."
      : "On this site only site administrators create projects, and none is configured: set ATRIUM_ADMINS and restart Atrium.",
  };
}
