// Operator API for `atrium run` (POST: start a run) and `atrium runs` (GET ?project=P: the project's runs).
import { db } from "@/server/db";
import { jsonError } from "@/server/http/access";
import { isOperator } from "@/server/local/operator";
import { projectIdSchema } from "@/lib/projects";
import { startRunInput } from "@/lib/pipelines/api";
import { PipelineRegistryError } from "@/server/pipelines/registry";
import { PipelineRunError, startRunFromRequest } from "@/server/pipelines/runs";
import { listRuns } from "@/server/pipelines/read";
import { writeAudit } from "@/server/audit";

export const dynamic = "force-dynamic";
const refused = "Operator token missing or wrong: run `atrium run` on the machine Atrium runs on, with the same ATRIUM_DATA_DIR.";

export async function POST(req: Request) {
  if (!isOperator(req.headers)) return jsonError(401, refused);
  const body = startRunInput.safeParse(await req.json().catch(() => ({})));
  if (!body.success) return jsonError(400, body.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
  const prisma = await db();
  if (!(await prisma.project.findUnique({ where: { id: body.data.projectId } }))) return jsonError(404, `No project "${body.data.projectId}". List them in the portal, or check the id's case.`);
  try {
    const run = await startRunFromRequest(prisma, body.data, "cli", null);
    await writeAudit(prisma, { projectId: run.projectId, actorId: null, action: "pipeline.run.start", targetType: "pipelineRun", targetId: run.id, after: { pipeline: `${run.pipelineId}@${run.pipelineVersion}`, experiments: run.experimentIds.length, executor: run.executor, by: "atrium run" } });
    return Response.json({ runId: run.id, state: run.state, error: run.error, notes: run.notes });
  } catch (e) {
    if (e instanceof PipelineRunError || e instanceof PipelineRegistryError) return jsonError(400, e.message);
    throw e;
  }
}

export async function GET(req: Request) {
  if (!isOperator(req.headers)) return jsonError(401, refused);
  const url = new URL(req.url);
  const id = projectIdSchema.safeParse(url.searchParams.get("project") ?? "");
  if (!id.success) return jsonError(400, id.error.issues[0]!.message);
  const prisma = await db();
  if (!(await prisma.project.findUnique({ where: { id: id.data } }))) return jsonError(404, `No project "${id.data}". List them in the portal, or check the id's case.`);
  return Response.json(await listRuns(prisma, id.data, { limit: Number(url.searchParams.get("limit")) || 50 }));
}
