// The HTTP twin of projectProcedure: route handlers (DICOMweb, downloads, webhooks for a project)
// call requireProjectAccess and return its `response` when access is refused.
import type { PrismaClient } from "@/server/db/generated/client";
import { db } from "@/server/db";
import { sessionUserFromHeaders, type SessionUser } from "@/server/auth/session";
import { loadProjectAccess, type ProjectContext } from "@/server/trpc/init";
import type { RequiredLevel } from "@/lib/access";

const statusOf = { UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404 } as const;

export function jsonError(status: number, message: string): Response {
  return Response.json({ error: message }, { status, headers: { "cache-control": "no-store" } });
}

export type ProjectAccessResult =
  | { ok: true; prisma: PrismaClient; user: SessionUser; project: ProjectContext }
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
  };
}
