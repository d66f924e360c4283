// PUT /api/v1/tasks/{id}/draft {answers, annotations, elapsedMs}: saves the caller's draft (takes or renews the lock).
import { answer, jsonBody, taskAccess, taskCaller } from "@/server/http/task-api";
import { saveDraft } from "@/server/tasks/ops";

export const dynamic = "force-dynamic";

export async function PUT(req: Request, { params }: { params: Promise<{ id: string }> }) {
  return answer(async () => {
    const { id } = await params;
    const { prisma, user } = await taskCaller(req.headers);
    const project = await taskAccess(prisma, user, id, "member");
    const lock = await saveDraft(prisma, id, user.id, await jsonBody(req), project.id);
    return Response.json(lock);
  });
}
