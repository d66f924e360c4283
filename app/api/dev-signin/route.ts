// Development sign-in: pick or create a user without an IdP. Exists only when no OIDC provider is
// configured and Atrium was not started in production (lib/config devSignInEnabled); otherwise 404.
import { z } from "zod";
import { devSignInEnabled } from "@/lib/config";
import { emailSchema } from "@/lib/projects";
import { db } from "@/server/db";
import { createSession, sessionSetCookie } from "@/server/auth/session";
import { acceptPendingInvitations } from "@/server/auth/invitations";
import { jsonError } from "@/server/http/access";
import { safeCallbackPath } from "@/lib/auth/redirect";

const devSignInInput = z.object({
  email: emailSchema,
  name: z.string().trim().max(100).optional(),
  callbackUrl: z.string().optional(),
});

export async function POST(req: Request) {
  if (!devSignInEnabled()) return jsonError(404, "Not found.");
  const origin = req.headers.get("origin");
  const originHost = (() => {
    try {
      return origin ? new URL(origin).host : null;
    } catch {
      return "(unparseable)"; // e.g. "Origin: null" from a sandboxed frame
    }
  })();
  if (origin && originHost !== req.headers.get("host")) {
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
  const location = safeCallbackPath(parsed.data.callbackUrl);
  const headers = new Headers({ location });
  headers.append("set-cookie", sessionSetCookie(token, expires));
  return new Response(null, { status: 303, headers });
}
