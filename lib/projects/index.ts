// Project rules that do not depend on storage: id format, input schemas, membership invariants.
import { z } from "zod";
import { accessibilitySchema, projectRoleSchema, type ProjectRole } from "@/lib/access";
import { auditFilterFields, datesInOrder, DATES_MESSAGE } from "@/lib/audit";

export const PROJECT_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{1,31}$/;

export const projectIdSchema = z
  .string()
  .trim()
  .regex(
    PROJECT_ID_PATTERN,
    "Project id must be 2–32 characters: a letter first, then letters, digits, '_' or '-' (e.g. BRAIN_MR01).",
  );

export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email("Enter a valid e-mail address, e.g. name@institute.org."));

export const createProjectInput = z.object({
  id: projectIdSchema,
  name: z.string().trim().min(1, "Give the project a name.").max(200, "Name is at most 200 characters."),
  description: z.string().trim().max(5000, "Description is at most 5000 characters.").default(""),
  accessibility: accessibilitySchema.default("private"),
});
export type CreateProjectInput = z.infer<typeof createProjectInput>;

export const updateProjectInput = z.object({
  projectId: projectIdSchema,
  name: createProjectInput.shape.name.optional(),
  description: z.string().trim().max(5000, "Description is at most 5000 characters.").optional(),
  accessibility: accessibilitySchema.optional(),
});

export const projectRef = z.object({ projectId: projectIdSchema });

export const listProjectsInput = z
  .object({ search: z.string().trim().max(100).optional() })
  .default({});

export const inviteMemberInput = z.object({
  projectId: projectIdSchema,
  email: emailSchema,
  role: projectRoleSchema,
});

export const changeRoleInput = z.object({
  projectId: projectIdSchema,
  userId: z.string().min(1),
  role: projectRoleSchema,
});

export const removeMemberInput = z.object({ projectId: projectIdSchema, userId: z.string().min(1) });
export const cancelInvitationInput = z.object({ projectId: projectIdSchema, invitationId: z.string().min(1) });

/** A project's audit log, filtered (lib/audit) and paged by cursor. */
export const auditListInput = z.object({ projectId: projectIdSchema, ...auditFilterFields }).refine(datesInOrder, DATES_MESSAGE);

/** True if, after changing `userId` to `newRole` (or removing them: null), no owner would remain. */
export function wouldRemoveLastOwner(
  members: { userId: string; role: ProjectRole }[],
  userId: string,
  newRole: ProjectRole | null,
): boolean {
  const owners = members.filter((m) => m.role === "owner").map((m) => m.userId);
  if (!owners.includes(userId) || newRole === "owner") return false;
  return owners.length === 1;
}

/** Someone who sees a project asks to take part (issue #21). */
export const requestAccessInput = z.object({
  projectId: projectIdSchema,
  role: z.enum(["member", "collaborator"]).default("member"),
  message: z.string().trim().max(2000).default(""),
});
/** An owner approves a request (with the role to give, which may differ from the one asked) or declines it. */
export const decideAccessInput = z.object({
  projectId: projectIdSchema,
  requestId: z.string().min(1).max(64),
  decision: z.enum(["approve", "decline"]),
  role: projectRoleSchema.optional(),
});
