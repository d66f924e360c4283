import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { devSignInEnabled, oidcConfigured, readEnv } from "@/lib/config";
import { db } from "@/server/db";
import { currentUser } from "@/server/auth/current";
import { SignInCard } from "@/components/auth/SignInCard";
import { safeCallbackPath } from "@/lib/auth/redirect";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

export default async function SignInPage({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const params = await searchParams;
  // Only a path of this site: `//evil.example` would send a signed-in user elsewhere.
  const env = readEnv();
  const callbackUrl = safeCallbackPath(params.callbackUrl, undefined, env.NEXTAUTH_URL);
  if (await currentUser()) redirect(callbackUrl);
  const dev = devSignInEnabled(env);
  const knownUsers = dev
    ? (await (await db()).user.findMany({ orderBy: { createdAt: "asc" }, take: 8, select: { email: true, name: true } }))
        .filter((u): u is { email: string; name: string | null } => Boolean(u.email))
    : [];
  return (
    <SignInCard
      oidc={oidcConfigured(env) ? { name: env.ATRIUM_OIDC_NAME } : null}
      devSignIn={dev}
      knownUsers={knownUsers}
      callbackUrl={callbackUrl}
      error={params.error ?? null}
    />
  );
}
