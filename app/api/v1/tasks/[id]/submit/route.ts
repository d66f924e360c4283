// POST /api/v1/tasks/{id}/submit {answers, annotations, elapsedMs}: validated against the task's template; a new result version.
import { answer, jsonBody, taskAccess, taskCaller } from "@/server/http/task-api";
import { submit } from "@/server/tasks/ops";

export const dynamic = "force-dynamic";

export async function POST(req: Request, { params }: { params: Promise<{ id: string }> }) {
  return answer(async () => {
    const { id } = await params;
    const { prisma, user } = await taskCaller(req.headers);
    const project = await taskAccess(prisma, user, id, "member");
    return Response.json(await submit(prisma, id, user.id, await jsonBody(req), project.id));
  });
}
