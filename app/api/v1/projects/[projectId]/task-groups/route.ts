// POST /api/v1/projects/{projectId}/task-groups: a task group from a template (id or name) over
// experiment ids or a query, with reads per case and a pool of readers (owners).
import { z } from "zod";
import { answer, HttpError, jsonBody, projectAccess, taskCaller } from "@/server/http/task-api";
import { createGroupInput } from "@/lib/tasks/api";
import { createGroup } from "@/server/tasks/ops";

export const dynamic = "force-dynamic";
const Body = createGroupInput.extend({ templateId: z.string().min(1).max(100).optional(), template: z.string().min(1).max(64).optional() });

export async function POST(req: Request, { params }: { params: Promise<{ projectId: string }> }) {
  return answer(async () => {
    const { projectId } = await params;
    const { prisma, user } = await taskCaller(req.headers);
    const project = await projectAccess(prisma, user, projectId, "owner");
    const { template, ...input } = Body.parse(await jsonBody(req));
    let templateId = input.templateId;
    if (!templateId && template) templateId = (await prisma.taskTemplate.findUnique({ where: { projectId_name: { projectId: project.id, name: template } }, select: { id: true } }))?.id;
    if (!templateId) throw new HttpError(400, "Name the template: {\"template\": \"<name>\"} or {\"templateId\": \"…\"}, one of this project's templates.");
    const g = await createGroup(prisma, project.id, user.id, { ...input, templateId });
    return Response.json(g, { status: 201 });
  });
}
