// Inputs of the archive procedures (one schema each, shared by the portal's forms and the API).
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import { ownerUrlSchema } from "@/lib/outbound/url";
import { selectionSchema } from "@/lib/portal/paging";

// Saved as origin + path: no credentials, query or fragment, no literal address the outbound
// policy refuses (lib/outbound/url.ts).
const xnatUrl = ownerUrlSchema({
  invalid: "Enter the XNAT's http(s) root URL, e.g. https://xnat.example.org.",
  credentials: "Put no user or password in the URL: use the user and password fields.",
});

const xnatProject = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: "Enter the project's ID on that XNAT (letters, digits, '_' or '-'), not its title." });

const xnatUser = z.string().trim().min(1, { error: "Enter the XNAT user name, or the alias of an alias token." }).max(255);
const xnatSecret = z.string().min(1).max(2000);

export const xnatTargetFields = z.object({
  xnatUrl,
  xnatProject,
  xnatUser,
  /** Password or alias-token secret; omitted: keep the stored one (same URL and user only). */
  xnatSecret: xnatSecret.optional(),
});

export const setArchiveTargetInput = z.discriminatedUnion("kind", [
  z.object({ projectId: projectIdSchema, kind: z.literal("local") }),
  xnatTargetFields.extend({ projectId: projectIdSchema, kind: z.literal("xnat") }),
]);
export type SetArchiveTargetInput = z.infer<typeof setArchiveTargetInput>;

/** Test the saved target (no fields), or the values of the form before saving them. */
export const testArchiveConnectionInput = z.object({ projectId: projectIdSchema, xnat: xnatTargetFields.optional() });

export const archiveStateFilter = z.object({
  state: z.enum(["queued", "sending", "verifying", "archived", "failed"]).optional(),
});

/** Order of the archive list: newest or oldest hand-over first, or the latest change first. */
export const archiveSorts = ["newest", "oldest", "updated"] as const;

export const archiveStatusInput = archiveStateFilter.extend({
  projectId: projectIdSchema,
  limit: z.number().int().min(1).max(500).default(100),
  /** The studyId of the last row of the previous page. */
  cursor: z.string().min(1).max(64).optional(),
  sort: z.enum(archiveSorts).default("newest"),
});

/** One call of "retry these failed archives": at most BULK_CHUNK studies; the portal repeats it. */
export const retryArchivesInput = z.object({
  projectId: projectIdSchema,
  selection: selectionSchema(archiveStateFilter),
});
export type RetryArchivesInput = z.infer<typeof retryArchivesInput>;

export const retryArchiveInput = z.object({ projectId: projectIdSchema, studyId: z.string().min(1).max(64) });
