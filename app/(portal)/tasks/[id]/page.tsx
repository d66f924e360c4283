import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { db } from "@/server/db";
import { currentUser } from "@/server/auth/current";
import { loadProjectAccess } from "@/server/trpc/init";
import { TaskPage } from "@/components/tasks/TaskPage";

export const metadata: Metadata = { title: "Task" };

export default async function Page({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  // Which project the task belongs to, for the caller only (the data itself is guarded by tasks.view).
  const user = await currentUser();
  const prisma = await db();
  const task = /^[A-Za-z0-9_-]{1,100}$/.test(id) ? await prisma.task.findUnique({ where: { id }, select: { projectId: true } }) : null;
  if (!task) notFound();
  const { decision } = await loadProjectAccess(prisma, user, task.projectId, "collaborator");
  if (!decision.ok) notFound();
  return <TaskPage projectId={task.projectId} taskId={id} />;
}
