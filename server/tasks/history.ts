// A task's result versions with their authors, times, what each changed from the one before
// (lib/tasks/versions.ts) and what was exported to the archive. Owners (reviewers) see any task's
// history; a reader sees the history of a task they read, never another reader's.
import { TRPCError } from "@trpc/server";
import type { PrismaClient } from "@/server/db/generated/client";
import type { Annotation } from "@/lib/tasks/answers";
import { TaskExportRecords } from "@/lib/tasks/export-plan";
import { TaskTemplate } from "@/lib/tasks/template";
import { diffVersions, type VersionDiff } from "@/lib/tasks/versions";

export interface TaskVersion {
  version: number;
  author: { name: string | null; email: string | null } | null;
  createdAt: Date;
  timeSpentMs: number;
  /** What changed from the previous version (from nothing, for the first). */
  diff: VersionDiff;
  exports: ReturnType<typeof TaskExportRecords.parse>;
  exportError: string | null;
}

export async function taskHistory(prisma: PrismaClient, taskId: string, projectId: string, viewer: { userId: string; isOwner: boolean }): Promise<{ taskId: string; number: number; state: string; canExport: boolean; versions: TaskVersion[] }> {
  const task = await prisma.task.findUnique({
    where: { id: taskId },
    select: {
      id: true,
      number: true,
      projectId: true,
      readerId: true,
      state: true,
      templateVersion: { select: { format: true, definition: true } },
      results: { orderBy: { version: "asc" }, include: { author: { select: { name: true, email: true } } } },
    },
  });
  if (!task || task.projectId !== projectId) throw new TRPCError({ code: "NOT_FOUND", message: "No such task." });
  const ownRead = task.readerId === viewer.userId || task.results.some((r) => r.authorId === viewer.userId);
  if (!viewer.isOwner && !ownRead) throw new TRPCError({ code: "FORBIDDEN", message: "Only the task's reader and the project's owners see its versions." });
  const template = task.templateVersion.format === "atrium" ? TaskTemplate.parse(task.templateVersion.definition) : null;
  const asSubmission = (r: (typeof task.results)[number]) => ({ answers: (r.answers ?? {}) as Record<string, unknown>, annotations: (r.annotations ?? []) as unknown as Annotation[] });
  const versions = task.results.map((r, i) => {
    const exports = TaskExportRecords.safeParse(r.exports ?? []);
    return {
      version: r.version,
      author: r.author,
      createdAt: r.createdAt,
      timeSpentMs: r.timeSpentMs,
      diff: diffVersions(template, i > 0 ? asSubmission(task.results[i - 1]!) : null, asSubmission(r)),
      exports: exports.success ? exports.data : [],
      exportError: r.exportError,
    };
  });
  return { taskId: task.id, number: task.number, state: task.state, canExport: viewer.isOwner, versions: versions.reverse() };
}
