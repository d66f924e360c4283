import { TRPCError } from "@trpc/server";
import { Prisma } from "@/server/db/generated/client";
import { router, protectedProcedure, projectProcedure } from "@/server/trpc/init";
import { createProjectInput, listProjectsInput, updateProjectInput } from "@/lib/projects";
import { resolveProjectAccess } from "@/lib/access";
import { writeAudit } from "@/server/audit";
import { fieldChanges } from "@/lib/changes";
import { projectCreationFor } from "@/server/site/settings";

export const projectRouter = router({
  /** Projects the caller may see: their own, and every protected or public one. */
  list: protectedProcedure.input(listProjectsInput).query(async ({ ctx, input }) => {
    const search = input.search?.trim();
    const visible: Prisma.ProjectWhereInput = ctx.user.siteAdmin
      ? {}
      : { OR: [{ members: { some: { userId: ctx.user.id } } }, { accessibility: { in: ["public", "protected"] } }] };
    const matches: Prisma.ProjectWhereInput = search
      ? {
          OR: [
            { id: { contains: search, mode: "insensitive" } },
            { name: { contains: search, mode: "insensitive" } },
            { description: { contains: search, mode: "insensitive" } },
          ],
        }
      : {};
    const projects = await ctx.prisma.project.findMany({
      where: { AND: [visible, matches] },
      orderBy: { id: "asc" },
      take: 500,
      include: {
        members: { where: { userId: ctx.user.id }, select: { role: true } },
        _count: { select: { members: true } },
      },
    });
    return projects.map((p) => {
      const role = p.members[0]?.role ?? null;
      return {
        id: p.id,
        name: p.name,
        description: p.description,
        accessibility: p.accessibility,
        createdAt: p.createdAt,
        memberCount: p._count.members,
        myRole: role,
        access: resolveProjectAccess({ signedIn: true, siteAdmin: ctx.user.siteAdmin, accessibility: p.accessibility, role }),
      };
    });
  }),

  get: projectProcedure("listed").query(async ({ ctx }) => {
    const p = await ctx.prisma.project.findUniqueOrThrow({
      where: { id: ctx.project.id },
      include: { _count: { select: { members: true } }, members: { where: { userId: ctx.user.id }, select: { role: true } } },
    });
    return {
      id: p.id,
      name: p.name,
      description: p.description,
      accessibility: p.accessibility,
      createdAt: p.createdAt,
      updatedAt: p.updatedAt,
      memberCount: p._count.members,
      myRole: p.members[0]?.role ?? null,
      access: ctx.project.level,
    };
  }),

  /** Whether the caller may create a project (the site setting "who may create projects"), and if not, why. */
  creation: protectedProcedure.query(({ ctx }) => projectCreationFor(ctx.prisma, ctx.user)),

  create: protectedProcedure.input(createProjectInput).mutation(async ({ ctx, input }) => {
    const may = await projectCreationFor(ctx.prisma, ctx.user);
    if (!may.allowed) throw new TRPCError({ code: "FORBIDDEN", message: may.reason });
    try {
      return await ctx.prisma.$transaction(async (tx) => {
        const taken = await tx.project.findUnique({ where: { idLower: input.id.toLowerCase() }, select: { id: true } });
        if (taken) throw duplicateId(input.id);
        const project = await tx.project.create({
          data: { ...input, idLower: input.id.toLowerCase(), members: { create: { userId: ctx.user.id, role: "owner" } } },
        });
        await writeAudit(tx, {
          projectId: project.id,
          actorId: ctx.user.id,
          action: "project.create",
          targetType: "project",
          targetId: project.id,
          after: { name: project.name, description: project.description, accessibility: project.accessibility },
        });
        return { id: project.id };
      });
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") throw duplicateId(input.id);
      throw err;
    }
  }),

  update: projectProcedure("owner")
    .input(updateProjectInput)
    .mutation(async ({ ctx, input }) => {
      const { projectId, ...changes } = input;
      return ctx.prisma.$transaction(async (tx) => {
        const diff = fieldChanges(await tx.project.findUniqueOrThrow({ where: { id: projectId } }), changes);
        if (!diff.fields.length) return { id: projectId, changed: [] as string[] };
        await tx.project.update({ where: { id: projectId }, data: diff.after });
        await writeAudit(tx, {
          projectId,
          actorId: ctx.user.id,
          action: "project.update",
          targetType: "project",
          targetId: projectId,
          before: diff.before as Prisma.InputJsonValue,
          after: diff.after as Prisma.InputJsonValue,
        });
        return { id: projectId, changed: diff.fields };
      });
    }),
});

function duplicateId(id: string) {
  return new TRPCError({
    code: "CONFLICT",
    message: `A project with id "${id}" already exists (ids are unique regardless of case). Choose another id.`,
  });
}
