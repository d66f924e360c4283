// Personal API tokens (atu_…) for the task API: /api/v1 (Authorization: Bearer atu_…) acts as the
// token's user, with that user's project roles. Only the SHA-256 of a token is stored; the token is
// shown once, when made.
import { createHash, randomBytes } from "node:crypto";
import type { PrismaClient } from "@/server/db/generated/client";
import type { SessionUser } from "@/server/auth/session";
import { siteAdminFor } from "@/server/auth/session";

export const USER_TOKEN_PREFIX = "atu_";
const hash = (t: string) => createHash("sha256").update(t).digest("hex");

export async function createUserToken(prisma: PrismaClient, userId: string, name: string) {
  const token = `${USER_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  const row = await prisma.userApiToken.create({ data: { userId, name, prefix: token.slice(0, 10), tokenHash: hash(token) } });
  return { id: row.id, name, prefix: row.prefix, token };
}

/** The user of a personal token; null when it is unknown or revoked. */
export async function userOfToken(prisma: PrismaClient, token: string): Promise<SessionUser | null> {
  if (!token.startsWith(USER_TOKEN_PREFIX) || token.length > 200) return null;
  const row = await prisma.userApiToken.findUnique({ where: { tokenHash: hash(token) }, include: { user: { select: { id: true, email: true, name: true } } } });
  if (!row || row.revokedAt) return null;
  await prisma.userApiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } });
  return { id: row.user.id, email: row.user.email, name: row.user.name, siteAdmin: await siteAdminFor(prisma, row.user) };
}
