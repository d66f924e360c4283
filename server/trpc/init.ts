// tRPC and its layered procedures. Access is decided here (with lib/access) and nowhere else:
// publicProcedure → protectedProcedure → projectProcedure(level), and adminProcedure.
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import type { PrismaClient, ProjectAccessibility, ProjectRole } from "@/server/db/generated/client";
import { sqlRows } from "@/server/db";
import type { SessionUser } from "@/server/auth/session";
import { decideProjectAccess, type AccessLevel, type RequiredLevel } from "@/lib/access";
import { projectRef } from "@/lib/projects";
import { internalError, internalErrorLog, looksLikeDatabaseMessage, publicDatabaseError, type PublicError } from "@/lib/errors";
import { childLog } from "@/lib/log";

const log = childLog("trpc");

export interface Context {
  prisma: PrismaClient;
  user: SessionUser | null;
}

export function readableZodMessage(err: ZodError): string {
  return err.issues
    .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
    .join("; ");
}

/** An error already made public by publicTrpcError (its message is safe to show). */
class PublicTRPCError extends TRPCError {
  readonly ref: string | undefined;
  constructor(p: PublicError, cause: unknown) {
    super({ code: p.code, message: p.message, cause });
    this.ref = p.ref;
  }
}

/**
 * The one place where an error becomes what a tRPC caller sees: a database error (or a message that
 * quotes one) is mapped by lib/errors (P2002 → CONFLICT, P2025 → NOT_FOUND, else INTERNAL with a
 * reference logged here); a TRPCError the code threw on purpose (with its own message) passes
 * unchanged.
 */
export function publicTrpcError(error: TRPCError, path: string | undefined): TRPCError {
  if (error instanceof PublicTRPCError) return error;
  const cause = error.cause;
  const fromDatabase = publicDatabaseError(cause) ?? (looksLikeDatabaseMessage(error.message) ? internalError() : null);
  // Other unexpected errors keep their message: domain code (lib/) throws plain Errors that say
  // what is wrong; the route's onError logs them.
  const mapped = fromDatabase;
  if (!mapped) return error;
  if (mapped.ref) log.error({ path, ...internalErrorLog(cause ?? error, mapped.ref) }, "procedure failed");
  return new PublicTRPCError(mapped, cause ?? error);
}

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error, path }) {
    const zod = error.cause instanceof ZodError ? error.cause : null;
    // A safety net for errors no middleware saw (e.g. while creating the context): the same mapping.
    const safe = zod ? error : publicTrpcError(error, path);
    const { stack: _stack, ...data } = shape.data;
    return {
      ...shape,
      message: zod ? readableZodMessage(zod) : safe.message,
      data: {
        ...data,
        code: safe === error ? shape.data.code : safe.code,
        ...(safe instanceof PublicTRPCError && safe.ref ? { ref: safe.ref } : {}),
        fieldErrors: zod ? zod.issues.map((i) => ({ path: i.path.join("."), message: i.message })) : null,
      },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Every procedure starts here: what it throws leaves through publicTrpcError (HTTP and server-side callers alike). */
const baseProcedure = t.procedure.use(async ({ next, path }) => {
  const result = await next();
  if (!result.ok) {
    const safe = publicTrpcError(result.error, path);
    if (safe !== result.error) throw safe;
  }
  return result;
});

export const publicProcedure = baseProcedure;

export const protectedProcedure = baseProcedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in to continue." });
  return next({ ctx: { ...ctx, user: ctx.user } });
});

export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {
  if (!ctx.user.siteAdmin) throw new TRPCError({ code: "FORBIDDEN", message: "Only site administrators may do this." });
  return next();
});

export interface ProjectContext {
  id: string;
  accessibility: "private" | "protected" | "public";
  level: AccessLevel;
}

/** Loads the caller's access to a project and applies the decision of lib/access. */
export async function loadProjectAccess(
  prisma: PrismaClient,
  user: SessionUser | null,
  projectId: string,
  required: RequiredLevel,
) {
  // One prepared statement (every request of every route asks it): the project and the caller's role.
  const row = user
    ? (
        await sqlRows<{ id: string; accessibility: ProjectAccessibility; allowCollaboratorDownload: boolean; role: ProjectRole | null }>(
          prisma,
          `SELECT p.id, p.accessibility::text AS accessibility, p."allowCollaboratorDownload",
                  (SELECT m.role::text FROM "ProjectMember" m WHERE m."projectId" = p.id AND m."userId" = $2) AS role
             FROM "Project" p WHERE p.id = $1`,
          [projectId, user.id],
          "access.project",
        )
      )[0]
    : undefined;
  const project = row ? { id: row.id, accessibility: row.accessibility, allowCollaboratorDownload: row.allowCollaboratorDownload, members: row.role ? [{ role: row.role }] : [] } : null;
  const decision = decideProjectAccess(
    {
      signedIn: Boolean(user),
      siteAdmin: Boolean(user?.siteAdmin),
      accessibility: project?.accessibility ?? "private",
      role: project?.members[0]?.role ?? null,
      exists: Boolean(project),
      projectId,
    },
    required,
  );
  return { project, decision };
}

/** A procedure on one project: its input has `projectId`, and the caller needs at least `required`. */
export function projectProcedure(required: RequiredLevel) {
  return protectedProcedure.input(projectRef).use(async ({ ctx, input, next }) => {
    const { project, decision } = await loadProjectAccess(ctx.prisma, ctx.user, input.projectId, required);
    if (!decision.ok) throw new TRPCError({ code: decision.code, message: decision.message });
    const projectCtx: ProjectContext = { id: project!.id, accessibility: project!.accessibility, level: decision.level };
    return next({ ctx: { ...ctx, project: projectCtx } });
  });
}
