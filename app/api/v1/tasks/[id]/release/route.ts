// POST /api/v1/tasks/{id}/release: gives the task back to the pool (own lock; owners any).
import { answer, taskAccess, taskCaller } from "@/server/http/task-api";
import { release } from "@/server/tasks/ops";

export const dynamic = "force-dynamic";

export async function POST(req: Request, { params }: { params: Promise<{ id: string }> }) {
  return answer(async () => {
    const { id } = await params;
    const { prisma, user } = await taskCaller(req.headers);
    const project = await taskAccess(prisma, user, id, "member");
    return Response.json(await release(prisma, id, user.id, project.level === "owner", project.id));
  });
}
