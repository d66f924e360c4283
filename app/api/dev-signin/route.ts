// Development sign-in: pick or create a user without an IdP. Exists only when no OIDC provider is
// configured and Atrium was not started in production (lib/config devSignInEnabled); otherwise 404.
import { z } from "zod";
import { devSignInEnabled } from "@/lib/config";
import { emailSchema } from "@/lib/projects";
import { db } from "@/server/db";
import { createSession, SESSION_COOKIE, SESSION_MAX_AGE_S } from "@/server/auth/session";
import { acceptPendingInvitations } from "@/server/auth/invitations";
import { jsonError } from "@/server/http/access";

const devSignInInput = z.object({
  email: emailSchema,
  name: z.string().trim().max(100).optional(),
  callbackUrl: z.string().optional(),
});

function safeCallback(url: string | undefined): string {
  // Only same-site paths: never redirect to another origin.
  return url && url.startsWith("/") && !url.startsWith("//") ? url : "/projects";
}

export async function POST(req: Request) {
  if (!devSignInEnabled()) return jsonError(404, "Not found.");
  const origin = req.headers.get("origin");
  if (origin && new URL(origin).host !== req.headers.get("host")) {
    return jsonError(403, "Development sign-in must be posted from this site's own sign-in page.");
  }
  const form = req.headers.get("content-type")?.includes("application/json")
    ? await req.json().catch(() => ({}))
    : Object.fromEntries((await req.formData()).entries());
  const parsed = devSignInInput.safeParse(form);
  if (!parsed.success) return jsonError(400, `Cannot sign in: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  const prisma = await db();
  const { email, name } = parsed.data;
  const user = await prisma.user.upsert({
    where: { email },
    update: {},
    create: { email, name: name || email.split("@")[0] },
  });
  await acceptPendingInvitations(prisma, user);
  const { token, expires } = await createSession(prisma, user.id);
  const location = safeCallback(parsed.data.callbackUrl);
  const headers = new Headers({ location });
  headers.append(
    "set-cookie",
    `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${SESSION_MAX_AGE_S}; Expires=${expires.toUTCString()}`,
  );
  return new Response(null, { status: 303, headers });
}
