// next-auth configuration: the institute's OpenID Connect provider, database sessions (table Session)
// through the Prisma adapter. Issuer, client id and secret come from the environment, so any
// standards-compliant IdP (Keycloak, Entra ID, SURFconext, Google) works without code changes.
import type { AuthOptions } from "next-auth";
import type { Adapter } from "next-auth/adapters";
import type { OAuthConfig } from "next-auth/providers/oauth";
import { PrismaAdapter } from "@next-auth/prisma-adapter";
import { readEnv, oidcConfigured, servedOverHttps } from "@/lib/config";
import { safeAuthRedirect } from "@/lib/auth/redirect";
import { db } from "@/server/db";
import { acceptPendingInvitations } from "@/server/auth/invitations";
import { SESSION_MAX_AGE_S } from "@/server/auth/session";
import { childLog } from "@/lib/log";

const log = childLog("auth");

interface OidcProfile {
  sub: string;
  name?: string;
  preferred_username?: string;
  given_name?: string;
  family_name?: string;
  email?: string;
  /** Some IdPs send the string "true". */
  email_verified?: boolean | string;
}

/** Why an IdP's sign-in is refused before any user or account is created (null: accepted). */
export function refuseOidcProfile(p: Partial<OidcProfile> | undefined): "EmailMissing" | "EmailNotVerified" | null {
  if (!p?.sub) return "EmailMissing";
  if (typeof p.email !== "string" || !p.email.includes("@")) return "EmailMissing";
  if (p.email_verified !== true && p.email_verified !== "true") return "EmailNotVerified";
  return null;
}

export const OIDC_PROVIDER_ID = "oidc";

/** The adapter resolves the database on first use: the process-wide handle is opened by the launcher. */
function lazyPrismaAdapter(): Adapter {
  let inner: Promise<Adapter> | undefined;
  const adapter = () => (inner ??= db().then((prisma) => PrismaAdapter(prisma as never)));
  const methods = [
    "createUser", "getUser", "getUserByEmail", "getUserByAccount", "updateUser", "deleteUser",
    "linkAccount", "unlinkAccount", "createSession", "getSessionAndUser", "updateSession",
    "deleteSession", "createVerificationToken", "useVerificationToken",
  ] as const;
  return Object.fromEntries(
    methods.map((m) => [m, async (...args: unknown[]) => ((await adapter())[m] as (...a: unknown[]) => unknown)(...args)]),
  ) as Adapter;
}

export function oidcProvider(env = readEnv()): OAuthConfig<OidcProfile> {
  const issuer = env.ATRIUM_OIDC_ISSUER!.replace(/\/+$/, "");
  return {
    id: OIDC_PROVIDER_ID,
    name: env.ATRIUM_OIDC_NAME,
    type: "oauth",
    wellKnown: `${issuer}/.well-known/openid-configuration`,
    clientId: env.ATRIUM_OIDC_CLIENT_ID,
    clientSecret: env.ATRIUM_OIDC_CLIENT_SECRET,
    authorization: { params: { scope: "openid email profile" } },
    idToken: true,
    checks: ["pkce", "state"],
    // No linking by e-mail: an IdP account (its subject) signs in as the user it created; an
    // e-mail already held by another user is refused (OAuthAccountNotLinked), never taken over.
    // The e-mail is the `email` claim only, and only when the IdP says it is verified (see the
    // signIn callback); preferred_username (Entra's UPN) is a login name, not a verified address.
    profile(p) {
      const name = p.name ?? ([p.given_name, p.family_name].filter(Boolean).join(" ") || p.preferred_username || null);
      return { id: p.sub, name, email: typeof p.email === "string" ? p.email.toLowerCase() : null, image: null };
    },
  };
}

let cached: { key: string; options: AuthOptions } | undefined;

export function authOptions(): AuthOptions {
  const env = readEnv();
  const key = [env.ATRIUM_OIDC_ISSUER, env.ATRIUM_OIDC_CLIENT_ID, env.NEXTAUTH_SECRET].join("|");
  if (cached?.key === key) return cached.options;
  const options: AuthOptions = {
    adapter: lazyPrismaAdapter(),
    providers: oidcConfigured(env) ? [oidcProvider(env)] : [],
    session: { strategy: "database", maxAge: SESSION_MAX_AGE_S },
    secret: env.NEXTAUTH_SECRET,
    pages: { signIn: "/signin", error: "/signin" },
    useSecureCookies: servedOverHttps(env),
    callbacks: {
      // Runs before next-auth creates a user or an account.
      signIn({ account, profile }) {
        if (account?.provider !== OIDC_PROVIDER_ID) return true;
        const refused = refuseOidcProfile(profile as Partial<OidcProfile> | undefined);
        if (!refused) return true;
        log.warn({ reason: refused }, "sign-in refused");
        return `/signin?error=${refused}`;
      },
      redirect: ({ url, baseUrl }) => safeAuthRedirect(url, baseUrl),
    },
    events: {
      async signIn({ user, isNewUser }) {
        log.info({ userId: user.id, isNewUser: Boolean(isNewUser) }, "signed in");
        await acceptPendingInvitations(await db(), { id: user.id, email: user.email ?? null });
      },
      signOut() {
        log.info("signed out");
      },
    },
    logger: {
      error: (code) => log.error({ code }, "next-auth error"),
      warn: (code) => log.warn({ code }, "next-auth warning"),
      debug: () => undefined,
    },
  };
  cached = { key, options };
  return options;
}
