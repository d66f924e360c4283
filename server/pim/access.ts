// The one access check of the PIM API under /pim: a project API token with the "report" scope, sent
// as a Bearer token or as the password of HTTP Basic (fastr takes credentials only in pim_host's
// URL). The token decides the project; there is no session access to these routes.
import type { PrismaClient } from "@/server/db/generated/client";
import { db } from "@/server/db";
import { authenticateToken, type TokenPrincipal } from "@/server/http/token";
import { decideTokenAccess } from "@/lib/tokens";

export type ReportAccess = { ok: true; prisma: PrismaClient; token: TokenPrincipal } | { ok: false; response: Response };

const CHALLENGE = 'Basic realm="atrium-pim", Bearer realm="atrium-pim"';

function refuse(status: 401 | 403, message: string): Response {
  return Response.json({ error: message }, { status, headers: { "cache-control": "no-store", ...(status === 401 ? { "www-authenticate": CHALLENGE } : {}) } });
}

export async function requireReportToken(req: Request): Promise<ReportAccess> {
  const prisma = await db();
  const auth = await authenticateToken(prisma, req.headers, new Date(), { allowBasic: true });
  if (auth.kind === "none") {
    return {
      ok: false,
      response: refuse(401, "A project API token with the \"report\" scope is needed. Put it in fastr's pim_host as https://fastr:<token>@<portal>/pim, or send 'Authorization: Bearer <token>'. Create one with `atrium token create --project P --scopes report`."),
    };
  }
  if (auth.kind === "invalid") return { ok: false, response: refuse(401, auth.message) };
  const decision = decideTokenAccess(auth.token, auth.token.projectId, "member", "report");
  if (!decision.ok) return { ok: false, response: refuse(403, decision.message) };
  return { ok: true, prisma, token: auth.token };
}
