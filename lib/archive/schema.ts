// Inputs of the archive procedures (one schema each, shared by the portal's forms and the API).
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";

const xnatUrl = z
  .url({ protocol: /^https?$/, error: "Enter the XNAT's http(s) root URL, e.g. https://xnat.example.org." })
  .max(500)
  .refine((u) => !URL.canParse(u) || (!new URL(u).username && !new URL(u).password), { error: "Put no user or password in the URL: use the user and password fields." })
  .refine((u) => !URL.canParse(u) || !new URL(u).search, { error: "Give the XNAT's root URL without a query string." })
  .transform((u) => u.replace(/\/+$/, ""));

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

export const archiveStatusInput = z.object({
  projectId: projectIdSchema,
  state: z.enum(["queued", "sending", "verifying", "archived", "failed"]).optional(),
  limit: z.number().int().min(1).max(500).default(100),
});

export const retryArchiveInput = z.object({ projectId: projectIdSchema, studyId: z.string().min(1).max(64) });
