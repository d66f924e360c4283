// Per-project API tokens, framework-free: the token format, its hash, scopes and the inputs of the
// token procedures. A token is `atr_` + 32 random bytes in base64url (43 characters); only its
// SHA-256 is stored, and the first characters (the prefix) are shown so people can tell tokens apart.
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import type { RequiredLevel } from "@/lib/access";

export const TOKEN_PREFIX = "atr_";
/** `atr_` + base64url of 32 bytes. */
export const TOKEN_PATTERN = /^atr_[A-Za-z0-9_-]{43}$/;
/** Characters of the token kept in clear (the `prefix` column) for the UI. */
export const SHOWN_PREFIX_LENGTH = 12;

export { TOKEN_SCOPES, SCOPE_LEVEL, SCOPE_LABEL, tokenScopeSchema, type TokenScope } from "./scopes";
import { SCOPE_LABEL, SCOPE_LEVEL, tokenScopeSchema, type TokenScope } from "./scopes";

export function generateToken(): { token: string; prefix: string; tokenHash: string } {
  const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
  return { token, prefix: token.slice(0, SHOWN_PREFIX_LENGTH), tokenHash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The token of an `Authorization: Bearer …` header; null when there is no bearer credential. */
export function bearerToken(authorization: string | null | undefined): string | null {
  if (!authorization) return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return m ? m[1]! : null;
}

/**
 * The password of an HTTP Basic header (`Basic base64(user:password)`), for clients that can only
 * put credentials in a URL (fastr's PIM reporter: pim_host = https://user:atr_…@portal/pim).
 */
export function basicPassword(authorization: string | null | undefined): string | null {
  if (!authorization) return null;
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(authorization);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : null;
}

const MAX_EXPIRY_DAYS = 3650;

export const createTokenInput = z.object({
  projectId: projectIdSchema,
  name: z.string().trim().min(1, "Give the token a name, e.g. the sender that will use it.").max(100, "A token name is at most 100 characters."),
  scopes: z
    .array(tokenScopeSchema)
    .min(1, "Choose at least one scope.")
    .transform((s) => [...new Set(s)].sort() as TokenScope[]),
  /** Days until the token stops working; omitted: it works until revoked. */
  expiresInDays: z.number().int().min(1, "At least one day.").max(MAX_EXPIRY_DAYS, `At most ${MAX_EXPIRY_DAYS} days.`).optional(),
});
export type CreateTokenInput = z.infer<typeof createTokenInput>;

export const revokeTokenInput = z.object({ projectId: projectIdSchema, tokenId: z.string().min(1).max(64) });

/** Why a stored token does not work now, or null when it does. */
export function tokenUnusableReason(t: { revokedAt: Date | null; expiresAt: Date | null }, now = new Date()): string | null {
  if (t.revokedAt) return "This API token was revoked. Ask a project owner for a new one (project → Intake → API tokens).";
  if (t.expiresAt && t.expiresAt.getTime() <= now.getTime()) return "This API token has expired. Ask a project owner for a new one (project → Intake → API tokens).";
  return null;
}

/** lastUsedAt is written at most once per this interval. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export type TokenDecision =
  | { ok: true; level: "member" | "collaborator" }
  | { ok: false; status: 403; message: string };

/**
 * Whether a (valid, unrevoked) token of `token.projectId` with `token.scopes` may act on `projectId`
 * at `required` level for `scope`. A token acts at the level its scope gives (stow: member,
 * read: collaborator), never above, and only in its own project.
 */
export function decideTokenAccess(
  token: { projectId: string; scopes: readonly string[] },
  projectId: string,
  required: RequiredLevel,
  scope: TokenScope,
): TokenDecision {
  if (token.projectId !== projectId) {
    return { ok: false, status: 403, message: `This API token belongs to another project, not "${projectId}". Use a token created in this project's Intake tab.` };
  }
  if (!token.scopes.includes(scope)) {
    return { ok: false, status: 403, message: `This API token lacks the "${scope}" scope (${SCOPE_LABEL[scope]}). Ask a project owner for a token with that scope.` };
  }
  const level = SCOPE_LEVEL[scope];
  const rank = ["listed", "collaborator", "member", "owner"];
  if (rank.indexOf(level) < rank.indexOf(required)) {
    return { ok: false, status: 403, message: `An API token may not do this (it needs ${required} access); sign in as a project ${required} instead.` };
  }
  return { ok: true, level };
}
