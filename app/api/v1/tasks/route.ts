// GET /api/v1/tasks?mine=1: the caller's tasks (held, assigned or done by them), newest first.
import { answer, taskCaller, HttpError } from "@/server/http/task-api";

export const dynamic = "force-dynamic";

export async function GET(req: Request) {
  return answer(async () => {
    const { prisma, user } = await taskCaller(req.headers);
    const url = new URL(req.url);
    if (url.searchParams.get("mine") !== "1") throw new HttpError(400, "List your own tasks with ?mine=1 (project task lists are on the portal's Tasks tab).");
    const state = url.searchParams.get("state");
    const tasks = await prisma.task.findMany({
      where: { OR: [{ readerId: user.id }, { assigneeId: user.id }], project: { members: { some: { userId: user.id, role: { in: ["member", "owner"] } } } }, ...(state ? { state: state as never } : {}) },
      select: { id: true, number: true, projectId: true, groupId: true, kind: true, state: true, lockExpiresAt: true, updatedAt: true },
      orderBy: { updatedAt: "desc" },
      take: 500,
    });
    return Response.json({ tasks });
  });
}
