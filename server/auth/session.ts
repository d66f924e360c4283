// Resolves the signed-in user from a request's session cookie: the one mechanism used by tRPC,
// HTTP route handlers and pages. Sessions are next-auth database sessions (table Session).
import { randomBytes } from "node:crypto";
import type { PrismaClient } from "@/server/db/generated/client";
import { siteAdminEmails } from "@/lib/config";

export const SESSION_COOKIE = "next-auth.session-token";
export const SECURE_SESSION_COOKIE = "__Secure-next-auth.session-token";
export const SESSION_MAX_AGE_S = 30 * 24 * 60 * 60;

export interface SessionUser {
  id: string;
  email: string | null;
  name: string | null;
  siteAdmin: boolean;
}

export function isSiteAdminEmail(email: string | null | undefined): boolean {
  return Boolean(email && siteAdminEmails().has(email.toLowerCase()));
}

export function parseCookies(header: string | null | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (!k) continue;
    try {
      out.set(k, decodeURIComponent(v));
    } catch {
      out.set(k, v);
    }
  }
  return out;
}

export function sessionTokenFromCookieHeader(header: string | null | undefined): string | null {
  const cookies = parseCookies(header);
  return cookies.get(SECURE_SESSION_COOKIE) ?? cookies.get(SESSION_COOKIE) ?? null;
}

export async function sessionUserFromToken(prisma: PrismaClient, token: string | null): Promise<SessionUser | null> {
  // A token is 64 hex chars (ours) or a UUID (next-auth's); anything else is not worth a query.
  if (!token || token.length > 200) return null;
  const session = await prisma.session.findUnique({ where: { sessionToken: token }, include: { user: true } });
  if (!session || session.expires.getTime() <= Date.now()) return null;
  const { user } = session;
  return { id: user.id, email: user.email, name: user.name, siteAdmin: isSiteAdminEmail(user.email) };
}

export async function sessionUserFromHeaders(prisma: PrismaClient, headers: Headers): Promise<SessionUser | null> {
  return sessionUserFromToken(prisma, sessionTokenFromCookieHeader(headers.get("cookie")));
}

/** Creates a database session for a user (used by the development sign-in and by tests). */
export async function createSession(prisma: PrismaClient, userId: string): Promise<{ token: string; expires: Date }> {
  const token = randomBytes(32).toString("hex");
  const expires = new Date(Date.now() + SESSION_MAX_AGE_S * 1000);
  await prisma.session.create({ data: { sessionToken: token, userId, expires } });
  return { token, expires };
}
