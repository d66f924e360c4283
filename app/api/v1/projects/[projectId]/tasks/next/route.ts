// POST /api/v1/projects/{projectId}/tasks/next {groupId?}: the next task locked to the caller (200
// {id, lockExpiresAt, url}), or 204 when none is left. Without groupId: the project's groups the
// caller reads for, newest first.
import { z } from "zod";
import { answer, HttpError, jsonBody, projectAccess, taskCaller } from "@/server/http/task-api";
import { queues, startNext } from "@/server/tasks/ops";

export const dynamic = "force-dynamic";
const Body = z.object({ groupId: z.string().min(1).max(100).optional() });

export async function POST(req: Request, { params }: { params: Promise<{ projectId: string }> }) {
  return answer(async () => {
    const { projectId } = await params;
    const { prisma, user } = await taskCaller(req.headers);
    const project = await projectAccess(prisma, user, projectId, "member");
    const { groupId } = Body.parse(await jsonBody(req));
    let groups: string[];
    if (groupId) {
      if (!(await prisma.taskGroup.findFirst({ where: { id: groupId, projectId: project.id }, select: { id: true } }))) throw new HttpError(404, "No such task group in this project.");
      groups = [groupId];
    } else groups = (await queues(prisma, user.id)).filter((g) => g.projectId === project.id).map((g) => g.id);
    for (const g of groups) {
      const t = await startNext(prisma, g, user.id);
      if (t) return Response.json({ id: t.id, groupId: g, lockExpiresAt: t.lockExpiresAt, url: `/api/v1/tasks/${t.id}`, page: `/tasks/${t.id}` });
    }
    return new Response(null, { status: 204 });
  });
}
