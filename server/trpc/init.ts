// tRPC and its layered procedures. Access is decided here (with lib/access) and nowhere else:
// publicProcedure → protectedProcedure → projectProcedure(level), and adminProcedure.
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import type { PrismaClient } from "@/server/db/generated/client";
import type { SessionUser } from "@/server/auth/session";
import { decideProjectAccess, type AccessLevel, type RequiredLevel } from "@/lib/access";
import { projectRef } from "@/lib/projects";

export interface Context {
  prisma: PrismaClient;
  user: SessionUser | null;
}

export function readableZodMessage(err: ZodError): string {
  return err.issues
    .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
    .join("; ");
}

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    const zod = error.cause instanceof ZodError ? error.cause : null;
    return {
      ...shape,
      message: zod ? readableZodMessage(zod) : shape.message,
      data: { ...shape.data, fieldErrors: zod ? zod.issues.map((i) => ({ path: i.path.join("."), message: i.message })) : null },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

export const publicProcedure = t.procedure;

export const protectedProcedure = t.procedure.use(({ ctx, next }) => {
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
  const project = user
    ? await prisma.project.findUnique({
        where: { id: projectId },
        select: { id: true, accessibility: true, members: { where: { userId: user.id }, select: { role: true } } },
      })
    : null;
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
