// Who may do what in a project. Pure: the one place access is decided; tRPC's
// projectProcedure and the HTTP helper both call resolveProjectAccess().
import { z } from "zod";

export const projectRoles = ["collaborator", "member", "owner"] as const;
export const projectRoleSchema = z.enum(projectRoles);
export type ProjectRole = z.infer<typeof projectRoleSchema>;

export const accessibilities = ["private", "protected", "public"] as const;
export const accessibilitySchema = z.enum(accessibilities);
export type Accessibility = z.infer<typeof accessibilitySchema>;

/**
 * What a caller may do in one project, from least to most:
 * none       – the project is invisible (private, not a member, or not signed in)
 * listed     – may see that it exists, its name and description (protected)
 * collaborator – read data (members with that role, and everyone signed in on public projects)
 * member     – read and write data
 * owner      – manage settings and members (owners and site admins)
 */
export const accessLevels = ["none", "listed", "collaborator", "member", "owner"] as const;
export type AccessLevel = (typeof accessLevels)[number];
export type RequiredLevel = Exclude<AccessLevel, "none">;

export function levelRank(level: AccessLevel): number {
  return accessLevels.indexOf(level);
}

export interface AccessInput {
  signedIn: boolean;
  siteAdmin: boolean;
  accessibility: Accessibility;
  /** The caller's role in the project, if a member. */
  role: ProjectRole | null;
}

export function resolveProjectAccess(input: AccessInput): AccessLevel {
  if (!input.signedIn) return "none";
  if (input.siteAdmin) return "owner";
  if (input.role) return input.role;
  if (input.accessibility === "public") return "collaborator";
  if (input.accessibility === "protected") return "listed";
  return "none";
}

export function allows(level: AccessLevel, required: RequiredLevel): boolean {
  return levelRank(level) >= levelRank(required);
}

export type AccessDecision =
  | { ok: true; level: AccessLevel }
  | { ok: false; code: "UNAUTHORIZED" | "NOT_FOUND" | "FORBIDDEN"; message: string };

/**
 * The decision with the error a caller should see. A project the caller may not even see answers
 * NOT_FOUND, so that private project ids cannot be probed.
 */
export function decideProjectAccess(
  input: AccessInput & { exists: boolean; projectId: string },
  required: RequiredLevel,
): AccessDecision {
  if (!input.signedIn) return { ok: false, code: "UNAUTHORIZED", message: "Sign in to continue." };
  const level = input.exists ? resolveProjectAccess(input) : "none";
  if (level === "none") {
    return {
      ok: false,
      code: "NOT_FOUND",
      message: `No project "${input.projectId}" is visible to you. Check the id, or ask an owner to add you.`,
    };
  }
  if (!allows(level, required)) {
    const need = required === "listed" ? "see" : required === "collaborator" ? "read" : required === "member" ? "write" : "manage";
    return {
      ok: false,
      code: "FORBIDDEN",
      message: `You need to be ${required === "owner" ? "an owner" : `a ${required}`} of project "${input.projectId}" to ${need} this. Ask one of its owners.`,
    };
  }
  return { ok: true, level };
}
