import type { Metadata } from "next";
import { headers } from "next/headers";
import { notFound } from "next/navigation";
import { db } from "@/server/db";
import { currentUser } from "@/server/auth/current";
import { createCallerFactory, loadProjectAccess } from "@/server/trpc/init";
import { createContext } from "@/server/trpc/context";
import { appRouter } from "@/server/routers";
import { viewerAssets } from "@/server/viewer/assets";
import { TaskPage } from "@/components/tasks/TaskPage";
import { earlyViewerScript, shownSeries } from "@/components/viewer/series-metadata";
import { NONCE_HEADER } from "@/lib/http/security-headers";
import { TaskTemplate } from "@/lib/tasks/template";
import { taskSeries } from "@/lib/tasks/viewer-map";

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
  // The task is read while the page renders (through the same procedure and access check as the
  // client's query), so the HTML holds the first step's layout with each series' first image, and
  // asks for the shown series' metadata and stacks' frames before the page's code has loaded. A
  // refusal is left to the client's query, which says what is wrong.
  const requestHeaders = await headers();
  const caller = createCallerFactory(appRouter)(await createContext(requestHeaders));
  const initialTask = await caller.tasks.view({ projectId: task.projectId, taskId: id }).catch(() => null);
  const parsed = initialTask?.template.format === "atrium" ? TaskTemplate.safeParse(initialTask.template.definition) : null;
  const tpl = parsed?.success ? parsed.data : null;
  const first = tpl?.contexts[0];
  const shown = initialTask && tpl && first && !initialTask.resolution?.cannotBeDone ? shownSeries(first.layout, taskSeries(task.projectId, Object.keys(tpl.scans), initialTask)) : [];
  const nonce = requestHeaders.get(NONCE_HEADER) ?? undefined;
  return (
    <>
      {shown.length > 0 && <script nonce={nonce} dangerouslySetInnerHTML={{ __html: earlyViewerScript(shown, viewerAssets()) }} />}
      <TaskPage projectId={task.projectId} taskId={id} initialTask={initialTask} />
    </>
  );
}
