// The task API over HTTP (/api/v1/…): who calls (a session, or a personal token
// `Authorization: Bearer atu_…`), the same project access decision as the tRPC procedures
// (loadProjectAccess → lib/access), and the same operations (server/tasks/ops.ts). Errors are JSON
// {"error": …} with the usual statuses; a refused submit adds {"fieldErrors": [{field, message}]}.
import { TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import type { PrismaClient } from "@/server/db/generated/client";
import { db } from "@/server/db";
import { sessionUserFromHeaders, type SessionUser } from "@/server/auth/session";
import { loadProjectAccess, readableZodMessage, type ProjectContext } from "@/server/trpc/init";
import type { RequiredLevel } from "@/lib/access";
import { SubmitError } from "@/server/tasks/ops";
import { userOfToken } from "@/server/tasks/user-tokens";
import { jsonError } from "./access";

const STATUS: Partial<Record<TRPCError["code"], number>> = { BAD_REQUEST: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, CONFLICT: 409, TOO_MANY_REQUESTS: 429 };

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The caller: a bearer personal token (only it counts when given) or the session. */
export async function taskCaller(headers: Headers): Promise<{ prisma: PrismaClient; user: SessionUser }> {
  const prisma = await db();
  const bearer = /^Bearer\s+(.+)$/i.exec(headers.get("authorization") ?? "")?.[1]?.trim();
  if (bearer) {
    const user = await userOfToken(prisma, bearer);
    if (!user) throw new HttpError(401, "This API token is unknown or revoked: make a new one on My tasks (personal API token).");
    return { prisma, user };
  }
  const user = await sessionUserFromHeaders(prisma, headers);
  if (!user) throw new HttpError(401, "Sign in, or send a personal API token: 'Authorization: Bearer atu_…'.");
  return { prisma, user };
}

export async function projectAccess(prisma: PrismaClient, user: SessionUser, projectId: string, required: RequiredLevel): Promise<ProjectContext> {
  const { project, decision } = await loadProjectAccess(prisma, user, projectId, required);
  if (!decision.ok) throw new HttpError(decision.code === "NOT_FOUND" ? 404 : decision.code === "UNAUTHORIZED" ? 401 : 403, decision.message);
  return { id: project!.id, accessibility: project!.accessibility, level: decision.level };
}

/** The project of a task, with the caller's access to it (404 when the task is unknown or hidden). */
export async function taskAccess(prisma: PrismaClient, user: SessionUser, taskId: string, required: RequiredLevel) {
  const task = /^[A-Za-z0-9_-]{1,100}$/.test(taskId) ? await prisma.task.findUnique({ where: { id: taskId }, select: { projectId: true } }) : null;
  if (!task) throw new HttpError(404, "No such task.");
  try {
    return await projectAccess(prisma, user, task.projectId, required);
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) throw new HttpError(404, "No such task.");
    throw e;
  }
}

export async function jsonBody(req: Request): Promise<unknown> {
  const text = await req.text();
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "The body is not JSON: send Content-Type application/json with a JSON object.");
  }
}

/** Runs a handler and turns the errors of the operations into JSON responses. */
export async function answer(fn: () => Promise<Response>): Promise<Response> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof HttpError) {
      const r = jsonError(e.status, e.message);
      if (e.status === 401) r.headers.set("www-authenticate", 'Bearer realm="atrium"');
      return r;
    }
    if (e instanceof SubmitError) return Response.json({ error: e.message, fieldErrors: e.fieldErrors }, { status: 400 });
    if (e instanceof ZodError) return jsonError(400, readableZodMessage(e));
    if (e instanceof TRPCError) return jsonError(STATUS[e.code] ?? 500, e.message);
    throw e;
  }
}
