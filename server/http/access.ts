// The HTTP twin of projectProcedure: route handlers (DICOMweb, downloads, webhooks for a project)
// call requireProjectAccess (a session) or requireProjectAccessOrToken (a session or a project API
// token) and return its `response` when access is refused.
import type { PrismaClient } from "@/server/db/generated/client";
import { db } from "@/server/db";
import { sessionUserFromHeaders, type SessionUser } from "@/server/auth/session";
import { loadProjectAccess, type ProjectContext } from "@/server/trpc/init";
import type { RequiredLevel } from "@/lib/access";
import { decideTokenAccess, type TokenScope } from "@/lib/tokens";
import { decideDownloadAccess } from "@/lib/archive/download";
import { authenticateToken, bearerChallenge, type TokenPrincipal } from "./token";
import { timingSafeEqual, createHash } from "node:crypto";
import { readEnv } from "@/lib/config";

const statusOf = { UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404 } as const;

/** A JSON answer that no cache keeps (every API answer here is about one caller's data). */
export function jsonNoStore(body: unknown, status = 200): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store" } });
}

export function jsonError(status: number, message: string): Response {
  return jsonNoStore({ error: message }, status);
}

export type ProjectAccessResult =
  | { ok: true; prisma: PrismaClient; user: SessionUser; project: ProjectContext; allowCollaboratorDownload: boolean }
  | { ok: false; response: Response };

export async function requireProjectAccess(
  headers: Headers,
  projectId: string,
  required: RequiredLevel,
): Promise<ProjectAccessResult> {
  const prisma = await db();
  const user = await sessionUserFromHeaders(prisma, headers);
  const { project, decision } = await loadProjectAccess(prisma, user, projectId, required);
  if (!decision.ok) return { ok: false, response: jsonError(statusOf[decision.code], decision.message) };
  return {
    ok: true,
    prisma,
    user: user!,
    project: { id: project!.id, accessibility: project!.accessibility, level: decision.level },
    allowCollaboratorDownload: project!.allowCollaboratorDownload,
  };
}

export type ProjectAccessOrTokenResult =
  | { ok: true; prisma: PrismaClient; project: ProjectContext; user: SessionUser; token: null; allowCollaboratorDownload: boolean }
  | { ok: true; prisma: PrismaClient; project: ProjectContext; user: null; token: TokenPrincipal; allowCollaboratorDownload: boolean }
  | { ok: false; response: Response };

/**
 * Access to one project for routes that machines call too (STOW-RS, DICOMweb reads).
 *
 * - With an `Authorization: Bearer atr_…` header, only the token counts (a session cookie beside it
 *   is ignored): it must be valid (else 401), belong to `projectId` and carry `scope` (else 403).
 *   A token acts at the level its scope gives — "stow": member, "read": collaborator — so
 *   `required` above that (e.g. "owner") is refused with 403.
 * - Without one, the session decides, exactly as requireProjectAccess(headers, projectId, required).
 *
 * Returns the project's context and who acts (`user` for a session, `token` for a token).
 * Example: `const a = await requireProjectAccessOrToken(req.headers, id, "collaborator", "read");
 * if (!a.ok) return a.response;`
 */
export async function requireProjectAccessOrToken(
  headers: Headers,
  projectId: string,
  required: RequiredLevel,
  scope: TokenScope,
): Promise<ProjectAccessOrTokenResult> {
  const prisma = await db();
  const auth = await authenticateToken(prisma, headers);
  if (auth.kind === "invalid") return { ok: false, response: tokenError(auth.status, auth.message, "invalid_token") };
  if (auth.kind === "ok") {
    const decision = decideTokenAccess(auth.token, projectId, required, scope);
    if (!decision.ok) return { ok: false, response: jsonError(decision.status, decision.message) };
    const project = await prisma.project.findUnique({ where: { id: projectId }, select: { id: true, accessibility: true, allowCollaboratorDownload: true } });
    if (!project) return { ok: false, response: jsonError(404, `No project "${projectId}".`) };
    return {
      ok: true,
      prisma,
      user: null,
      token: auth.token,
      project: { id: project.id, accessibility: project.accessibility, level: decision.level },
      allowCollaboratorDownload: project.allowCollaboratorDownload,
    };
  }
  const session = await requireProjectAccess(headers, projectId, required);
  if (!session.ok) {
    if (session.response.status === 401) {
      return { ok: false, response: tokenError(401, "Send a project API token ('Authorization: Bearer atr_…', created by a project owner in the Intake tab) or sign in.") };
    }
    return session;
  }
  return { ...session, token: null };
}

/**
 * Access to a project's stored files (zip downloads, DICOMweb WADO-RS retrieve, metadata, frames and
 * bulk data): whoever may read it (requireProjectAccessOrToken, collaborator and the "read" scope),
 * then the download rule (lib/archive/download decideDownloadAccess): members, owners and "read"
 * tokens always; collaborators only when the project allows collaborator download. Rendered images
 * and thumbnails are not stored bytes and need only read access.
 */
export async function requireDownloadAccess(headers: Headers, projectId: string): Promise<ProjectAccessOrTokenResult> {
  const access = await requireProjectAccessOrToken(headers, projectId, "collaborator", "read");
  if (!access.ok) return access;
  const decision = decideDownloadAccess({
    projectId: access.project.id,
    level: access.project.level,
    viaToken: access.token !== null,
    allowCollaboratorDownload: access.allowCollaboratorDownload,
  });
  if (!decision.ok) return { ok: false, response: jsonError(decision.status, decision.message) };
  return access;
}

/** A 401/403 JSON error with the Bearer challenge (RFC 6750). */
export function tokenError(status: number, message: string, error?: "invalid_token"): Response {
  const r = jsonError(status, message);
  if (status === 401) r.headers.set("www-authenticate", bearerChallenge(error));
  return r;
}

export type TokenAccessResult =
  | { ok: true; prisma: PrismaClient; project: ProjectContext; token: TokenPrincipal }
  | { ok: false; response: Response };

/**
 * Access for routes where the token decides the project (POST /dicomweb/studies): a valid bearer
 * token with `scope` is required (a session alone is not enough: it names no project), and it
 * acts in its own project at the level its scope gives (see requireProjectAccessOrToken).
 */
export async function requireTokenAccess(headers: Headers, required: RequiredLevel, scope: TokenScope): Promise<TokenAccessResult> {
  const prisma = await db();
  const auth = await authenticateToken(prisma, headers);
  if (auth.kind === "invalid") return { ok: false, response: tokenError(auth.status, auth.message, "invalid_token") };
  if (auth.kind === "none") {
    return {
      ok: false,
      response: tokenError(
        401,
        "Send a project API token: 'Authorization: Bearer atr_…' (a project owner creates one in the project's Intake tab). The token decides the project; signed-in users post to /dicomweb/projects/{projectId}/studies instead.",
      ),
    };
  }
  const decision = decideTokenAccess(auth.token, auth.token.projectId, required, scope);
  if (!decision.ok) return { ok: false, response: jsonError(decision.status, decision.message) };
  const project = await prisma.project.findUnique({ where: { id: auth.token.projectId }, select: { id: true, accessibility: true } });
  if (!project) return { ok: false, response: tokenError(401, "This API token's project no longer exists.", "invalid_token") };
  return { ok: true, prisma, token: auth.token, project: { id: project.id, accessibility: project.accessibility, level: decision.level } };
}

/**
 * GET /metrics: `Authorization: Bearer <ATRIUM_METRICS_TOKEN>` (for Prometheus), or a site admin's
 * session. Anything else is refused (401 without credentials, 403 for another signed-in user).
 */
export async function requireMetricsAccess(headers: Headers): Promise<{ ok: true } | { ok: false; response: Response }> {
  const expected = readEnv().ATRIUM_METRICS_TOKEN;
  const given = /^Bearer\s+(.+)$/i.exec(headers.get("authorization") ?? "")?.[1]?.trim();
  if (given) {
    // Compare digests: equal length, so timingSafeEqual never throws and leaks no length.
    const digest = (s: string) => createHash("sha256").update(s).digest();
    if (expected && timingSafeEqual(digest(given), digest(expected))) return { ok: true };
    return { ok: false, response: tokenError(401, "This bearer token is not the metrics token: use the value of ATRIUM_METRICS_TOKEN.", "invalid_token") };
  }
  const user = await sessionUserFromHeaders(await db(), headers);
  if (user?.siteAdmin) return { ok: true };
  if (user) return { ok: false, response: jsonError(403, "Only site administrators (or a scraper with ATRIUM_METRICS_TOKEN) may read the metrics.") };
  return {
    ok: false,
    response: tokenError(401, "Metrics need 'Authorization: Bearer <ATRIUM_METRICS_TOKEN>' (set it in Atrium's environment and in the scraper) or a site administrator's session."),
  };
}
