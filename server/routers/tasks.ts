// Tasks (issue #14): templates, groups, "start next", drafts, submit, release, skip. Thin: the
// operations live in server/tasks/ops.ts (shared with the REST and TaskManager routes).
import { TRPCError } from "@trpc/server";
import { router, projectProcedure, protectedProcedure, type ProjectContext } from "@/server/trpc/init";
import type { PrismaClient } from "@/server/db/generated/client";
import { createGroupInput, draftInput, groupRef, reviewInput, saveTemplateInput, skipInput, taskRef } from "@/lib/tasks/api";
import { z } from "zod";
import { createGroup, getTask, queues, release, reviewTask, saveDraft, saveTemplate, skip, startNext, submit } from "@/server/tasks/ops";
import { createUserToken } from "@/server/tasks/user-tokens";
import { groupAgreement, groupExport, groupResults, groupsOf, taskView, templatesOf } from "@/server/tasks/views";
import { taskHistory } from "@/server/tasks/history";
import { exportTaskResult } from "@/server/tasks/export";
import { taskOverlays } from "@/server/tasks/overlays";
import { decideDownloadAccess } from "@/lib/archive/download";

/** Collaborators read tasks only when the project allows it (members and owners always). */
async function requireTaskRead(prisma: PrismaClient, project: ProjectContext) {
  if (project.level !== "collaborator") return;
  const p = await prisma.project.findUniqueOrThrow({ where: { id: project.id }, select: { collaboratorsReadTasks: true } });
  if (!p.collaboratorsReadTasks) throw new TRPCError({ code: "FORBIDDEN", message: "This project does not let collaborators read its tasks; ask an owner." });
}

export const tasksRouter = router({
  /** My queues: the groups I can take tasks from, with counts per state. */
  queues: protectedProcedure.query(({ ctx }) => queues(ctx.prisma, ctx.user.id)),

  /** A personal API token (atu_…) for the task API (/api/v1), shown once. */
  createApiToken: protectedProcedure
    .input(z.object({ name: z.string().trim().min(1).max(100) }))
    .mutation(({ ctx, input }) => createUserToken(ctx.prisma, ctx.user.id, input.name)),

  /** The project's tasks (optionally of one experiment: the Browse page's list). */
  list: projectProcedure("collaborator")
    .input(taskRef.partial().extend({ experimentId: taskRef.shape.taskId.optional() }))
    .query(async ({ ctx, input }) => {
      await requireTaskRead(ctx.prisma, ctx.project);
      return ctx.prisma.task.findMany({
        where: { projectId: ctx.project.id, ...(input.experimentId ? { experimentId: input.experimentId } : {}) },
        select: { id: true, number: true, state: true, kind: true, experimentId: true, readerIndex: true, groupId: true, createdAt: true, submittedAt: true, reader: { select: { name: true, email: true } } },
        orderBy: { createdAt: "desc" },
        take: 500,
      });
    }),

  get: projectProcedure("collaborator")
    .input(taskRef)
    .query(async ({ ctx, input }) => {
      await requireTaskRead(ctx.prisma, ctx.project);
      return getTask(ctx.prisma, input.taskId, ctx.user.id, ctx.project.id);
    }),

  /** The task page's view: the task, its experiment's labels, its group, an adjudication's reads. */
  view: projectProcedure("collaborator")
    .input(taskRef)
    .query(async ({ ctx, input }) => {
      await requireTaskRead(ctx.prisma, ctx.project);
      const v = await taskView(ctx.prisma, input.taskId, ctx.user.id, ctx.project.id, { reviewer: ctx.project.level === "owner" });
      // Other readers' answers are hidden from readers; owners adjudicate and review.
      if (ctx.project.level !== "owner" && !(v.kind === "adjudication" && v.mine)) v.reads = [];
      return v;
    }),

  /** The template's overlays with the experiment's pipeline results; they are stored files, so the download rule applies. */
  overlays: projectProcedure("collaborator")
    .input(taskRef)
    .query(async ({ ctx, input }) => {
      await requireTaskRead(ctx.prisma, ctx.project);
      const project = await ctx.prisma.project.findUniqueOrThrow({ where: { id: ctx.project.id }, select: { allowCollaboratorDownload: true } });
      const download = decideDownloadAccess({ projectId: ctx.project.id, level: ctx.project.level, viaToken: false, allowCollaboratorDownload: project.allowCollaboratorDownload });
      if (!download.ok) throw new TRPCError({ code: "FORBIDDEN", message: download.message });
      return taskOverlays(ctx.prisma, ctx.project.id, input.taskId, ctx.user.id);
    }),

  templates: projectProcedure("member").query(({ ctx }) => templatesOf(ctx.prisma, ctx.project.id)),

  groups: projectProcedure("collaborator").query(async ({ ctx }) => {
    await requireTaskRead(ctx.prisma, ctx.project);
    return groupsOf(ctx.prisma, ctx.project.id);
  }),

  results: projectProcedure("owner")
    .input(groupRef)
    .query(async ({ ctx, input }) => (await groupResults(ctx.prisma, ctx.project.id, input.groupId)).rows),

  agreement: projectProcedure("owner")
    .input(groupRef)
    .query(({ ctx, input }) => groupAgreement(ctx.prisma, ctx.project.id, input.groupId)),

  export: projectProcedure("owner")
    .input(groupRef.extend({ format: z.enum(["csv", "json"]) }))
    .query(({ ctx, input }) => groupExport(ctx.prisma, ctx.project.id, input.groupId, input.format)),

  saveTemplate: projectProcedure("owner")
    .input(saveTemplateInput)
    .mutation(({ ctx, input }) => saveTemplate(ctx.prisma, ctx.project.id, ctx.user.id, input.name, input.source)),

  createGroup: projectProcedure("owner")
    .input(createGroupInput)
    .mutation(({ ctx, input }) => createGroup(ctx.prisma, ctx.project.id, ctx.user.id, input)),

  startNext: projectProcedure("member")
    .input(groupRef)
    .mutation(async ({ ctx, input }) => {
      const g = await ctx.prisma.taskGroup.findFirst({ where: { id: input.groupId, projectId: ctx.project.id }, select: { id: true } });
      if (!g) throw new TRPCError({ code: "NOT_FOUND", message: "No such task group in this project." });
      return startNext(ctx.prisma, g.id, ctx.user.id);
    }),

  saveDraft: projectProcedure("member")
    .input(draftInput)
    .mutation(({ ctx, input }) => {
      const { projectId: _p, taskId, ...s } = input;
      return saveDraft(ctx.prisma, taskId, ctx.user.id, s, ctx.project.id);
    }),

  submit: projectProcedure("member")
    .input(draftInput)
    .mutation(({ ctx, input }) => {
      const { projectId: _p, taskId, ...s } = input;
      return submit(ctx.prisma, taskId, ctx.user.id, s, ctx.project.id);
    }),

  release: projectProcedure("member")
    .input(taskRef)
    .mutation(({ ctx, input }) => release(ctx.prisma, input.taskId, ctx.user.id, ctx.project.level === "owner", ctx.project.id)),

  skip: projectProcedure("member")
    .input(skipInput)
    .mutation(({ ctx, input }) => skip(ctx.prisma, input.taskId, ctx.user.id, input.reason, ctx.project.id)),

  /** The task's result versions with what each changed and what was exported (owners, or the task's own reader). */
  history: projectProcedure("member")
    .input(taskRef)
    .query(({ ctx, input }) => taskHistory(ctx.prisma, input.taskId, ctx.project.id, { userId: ctx.user.id, isOwner: ctx.project.level === "owner" })),

  /** Writes a result version (the latest by default) to the archive again as DICOM SR/SEG. */
  exportResult: projectProcedure("owner")
    .input(taskRef.extend({ version: z.number().int().min(1).optional() }))
    .mutation(async ({ ctx, input }) => {
      const t = await ctx.prisma.task.findFirst({ where: { id: input.taskId, projectId: ctx.project.id }, select: { id: true, state: true } });
      if (!t) throw new TRPCError({ code: "NOT_FOUND", message: "No such task." });
      const out = await exportTaskResult(ctx.prisma, t.id, { version: input.version, actorId: ctx.user.id });
      if (out.version === null) throw new TRPCError({ code: "CONFLICT", message: "This task has no submitted result to export yet." });
      return out;
    }),

  /** An owner accepts a submitted read (done) or returns it to its reader with a comment (groups with review). */
  review: projectProcedure("owner")
    .input(reviewInput)
    .mutation(({ ctx, input }) => reviewTask(ctx.prisma, input.taskId, ctx.user.id, input.decision, input.comment, ctx.project.id)),
});
