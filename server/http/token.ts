// Bearer-token authentication for HTTP routes (STOW-RS, DICOMweb reads, scripts): an
// `Authorization: Bearer atr_…` header is resolved to its project and scopes. The token is looked
// up by its SHA-256, so no comparison ever runs over the secret itself; an unknown, malformed,
// revoked or expired token is a 401 whose message says which and what to do.
import { timingSafeEqual } from "node:crypto";
import type { PrismaClient } from "@/server/db/generated/client";
import { childLog } from "@/lib/log";
import { bearerToken, basicPassword, hashToken, TOKEN_SCOPES, LAST_USED_RESOLUTION_MS, TOKEN_PATTERN, tokenUnusableReason, type TokenScope } from "@/lib/tokens";

const log = childLog("token");

export interface TokenPrincipal {
  tokenId: string;
  projectId: string;
  scopes: TokenScope[];
  /** What the owner named it (for the audit trail of what the token did). */
  name: string;
}

export type TokenAuthResult =
  | { kind: "none" }
  | { kind: "ok"; token: TokenPrincipal }
  | { kind: "invalid"; status: 401; message: string };

/** The WWW-Authenticate challenge sent with a 401 for a bad or missing token (RFC 6750). */
export function bearerChallenge(error?: "invalid_token"): string {
  return error ? `Bearer realm="atrium", error="${error}"` : `Bearer realm="atrium"`;
}

/**
 * Authenticates the request's bearer token. `none`: there is no `Authorization: Bearer` header
 * (the caller may still have a session). Updates the token's lastUsedAt at most once a minute.
 */
export async function authenticateToken(prisma: PrismaClient, headers: Headers, now = new Date(), options: { allowBasic?: boolean } = {}): Promise<TokenAuthResult> {
  const authorization = headers.get("authorization");
  const presented = bearerToken(authorization) ?? (options.allowBasic ? basicPassword(authorization) : null);
  if (presented === null) {
    if (authorization) {
      if (options.allowBasic) {
        return { kind: "invalid", status: 401, message: "The Authorization header is neither 'Bearer <token>' nor HTTP Basic with the token as password. Send a project API token either way." };
      }
      return { kind: "invalid", status: 401, message: "The Authorization header is not 'Bearer <token>'. Send 'Authorization: Bearer atr_…' with a project API token." };
    }
    return { kind: "none" };
  }
  if (!TOKEN_PATTERN.test(presented)) {
    return { kind: "invalid", status: 401, message: "This is not an Atrium API token (they look like atr_ followed by 43 characters). Copy the whole token shown when it was created." };
  }
  const hash = hashToken(presented);
  const row = await prisma.projectApiToken.findUnique({
    where: { tokenHash: hash },
    select: { id: true, projectId: true, scopes: true, name: true, tokenHash: true, revokedAt: true, expiresAt: true, lastUsedAt: true },
  });
  // The lookup is by hash; the equality check below runs in constant time over the hashes anyway.
  if (!row || !timingSafeEqual(Buffer.from(row.tokenHash, "hex"), Buffer.from(hash, "hex"))) {
    return { kind: "invalid", status: 401, message: "Unknown API token. Check that the whole token was copied, or ask a project owner for a new one (project → Intake → API tokens)." };
  }
  const unusable = tokenUnusableReason(row, now);
  if (unusable) return { kind: "invalid", status: 401, message: unusable };
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    const cutoff = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
    await prisma.projectApiToken
      .updateMany({ where: { id: row.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: cutoff } }] }, data: { lastUsedAt: now } })
      .catch((e: Error) => log.warn({ tokenId: row.id, error: e.name }, "could not record the token's last use"));
  }
  return { kind: "ok", token: { tokenId: row.id, projectId: row.projectId, scopes: row.scopes.filter((s): s is TokenScope => (TOKEN_SCOPES as readonly string[]).includes(s)), name: row.name } };
}
