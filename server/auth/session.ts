// Resolves the signed-in user from a request's session cookie: the one mechanism used by tRPC,
// HTTP route handlers and pages. Sessions are next-auth database sessions (table Session).
import { randomBytes } from "node:crypto";
import type { PrismaClient } from "@/server/db/generated/client";
import { sqlRows } from "@/server/db";
import { servedOverHttps, siteAdminEmails } from "@/lib/config";

export const SESSION_COOKIE = "next-auth.session-token";
export const SECURE_SESSION_COOKIE = "__Secure-next-auth.session-token";
export const SESSION_MAX_AGE_S = 30 * 24 * 60 * 60;

export interface SessionUser {
  id: string;
  email: string | null;
  name: string | null;
  siteAdmin: boolean;
}

/** The e-mail is listed in ATRIUM_ADMINS (necessary, not sufficient: see siteAdminFor). */
export function isSiteAdminEmail(email: string | null | undefined): boolean {
  return Boolean(email && siteAdminEmails().has(email.toLowerCase()));
}

/**
 * Whether a user is a site admin: its e-mail is in ATRIUM_ADMINS and the grant is bound to it. The
 * first user seen with a listed e-mail binds the grant (SiteAdminBinding) to its IdP subject, or,
 * without SSO, to the user, whose subject is added when it first signs in with SSO. Another account
 * with the same e-mail (another subject, or a new user after the first was deleted) is not an admin.
 */
export async function siteAdminFor(prisma: PrismaClient, user: { id: string; email: string | null }): Promise<boolean> {
  if (!isSiteAdminEmail(user.email)) return false;
  const email = user.email!.toLowerCase();
  const accounts = await prisma.account.findMany({ where: { userId: user.id }, select: { provider: true, providerAccountId: true }, orderBy: { id: "asc" } });
  const own = accounts[0] ?? null;
  let binding = await prisma.siteAdminBinding.findUnique({ where: { email } });
  if (!binding) {
    // First seen: bind. A page's first requests arrive together: the first insert wins (ON CONFLICT
    // DO NOTHING; Prisma's upsert is a read then an insert here and lost that race), the others read it.
    await prisma.siteAdminBinding.createMany({
      data: [{ email, userId: user.id, provider: own?.provider ?? null, subject: own?.providerAccountId ?? null }],
      skipDuplicates: true,
    });
    binding = await prisma.siteAdminBinding.findUniqueOrThrow({ where: { email } });
  }
  if (binding.subject !== null) return accounts.some((a) => a.provider === binding.provider && a.providerAccountId === binding.subject);
  if (binding.userId !== user.id) return false;
  if (own) {
    await prisma.siteAdminBinding.updateMany({ where: { email, subject: null }, data: { provider: own.provider, subject: own.providerAccountId } });
  }
  return true;
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

/**
 * The session cookie's name: `__Secure-…` (with the Secure flag) when the portal is served over
 * https (NEXTAUTH_URL), as next-auth names it; the plain name over http, where a browser would
 * refuse to store a `__Secure-` cookie and any such cookie a request carries was not set by us.
 */
export function sessionCookieName(): string {
  return servedOverHttps() ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
}

/** The Set-Cookie header for a new session. */
export function sessionSetCookie(token: string, expires: Date): string {
  return `${sessionCookieName()}=${token}; Path=/; HttpOnly;${servedOverHttps() ? " Secure;" : ""} SameSite=Lax; Max-Age=${SESSION_MAX_AGE_S}; Expires=${expires.toUTCString()}`;
}

/** The session token of a request: only from the cookie name this deployment uses (see sessionCookieName). */
export function sessionTokenFromCookieHeader(header: string | null | undefined): string | null {
  return parseCookies(header).get(sessionCookieName()) ?? null;
}

export async function sessionUserFromToken(prisma: PrismaClient, token: string | null): Promise<SessionUser | null> {
  // A token is 64 hex chars (ours) or a UUID (next-auth's); anything else is not worth a query.
  if (!token || token.length > 200) return null;
  // One prepared statement: every request that carries a session cookie asks it.
  const [user] = await sqlRows<{ id: string; email: string | null; name: string | null }>(
    prisma,
    `SELECT u.id, u.email, u.name FROM "Session" s JOIN "User" u ON u.id = s."userId"
      WHERE s."sessionToken" = $1 AND s.expires > now() AT TIME ZONE 'UTC'`,
    [token],
    "auth.sessionUser",
  );
  if (!user) return null;
  return { id: user.id, email: user.email, name: user.name, siteAdmin: await siteAdminFor(prisma, user) };
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
