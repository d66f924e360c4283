// POST /api/v1/tasks/{id}/skip {reason}: skips the task with a reason.
import { z } from "zod";
import { answer, jsonBody, taskAccess, taskCaller } from "@/server/http/task-api";
import { skip } from "@/server/tasks/ops";

export const dynamic = "force-dynamic";
const Body = z.object({ reason: z.string().trim().min(1, "Say why the task is skipped: {\"reason\": \"…\"}.").max(1000) });

export async function POST(req: Request, { params }: { params: Promise<{ id: string }> }) {
  return answer(async () => {
    const { id } = await params;
    const { prisma, user } = await taskCaller(req.headers);
    const project = await taskAccess(prisma, user, id, "member");
    const { reason } = Body.parse(await jsonBody(req));
    return Response.json(await skip(prisma, id, user.id, reason, project.id));
  });
}
