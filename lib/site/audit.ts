// The site-wide audit view (issue #17 §1): every audit event of every project and of the site itself
// (projectId null), for site admins, filtered by action, project, actor and date.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import { auditFilterFields, datesInOrder, DATES_MESSAGE } from "@/lib/audit";

export const siteAuditInput = z
  .object({
    ...auditFilterFields,
    /** Only this project's events. */
    projectId: projectIdSchema.optional(),
    /** Only site events (no project). */
    siteOnly: z.boolean().optional(),
  })
  .refine((f) => !(f.projectId && f.siteOnly), { message: "Choose either a project or site events only, not both.", path: ["siteOnly"] })
  .refine(datesInOrder, DATES_MESSAGE);
export type SiteAuditInput = z.infer<typeof siteAuditInput>;
