// Operator API for `atrium run --wait`: one run's state, job counts by state, and its results.
import { db } from "@/server/db";
import { jsonError } from "@/server/http/access";
import { isOperator } from "@/server/local/operator";
import { projectIdSchema } from "@/lib/projects";
import { getRun, PipelineNotFoundError, runResults } from "@/server/pipelines/read";

export const dynamic = "force-dynamic";

export async function GET(req: Request, { params }: { params: Promise<{ runId: string }> }) {
  if (!isOperator(req.headers)) return jsonError(401, "Operator token missing or wrong: run `atrium run` on the machine Atrium runs on, with the same ATRIUM_DATA_DIR.");
  const { runId } = await params;
  const id = projectIdSchema.safeParse(new URL(req.url).searchParams.get("project") ?? "");
  if (!id.success) return jsonError(400, id.error.issues[0]!.message);
  const prisma = await db();
  try {
    const run = await getRun(prisma, id.data, runId);
    const { definition: _d, ...rest } = run;
    return Response.json({ ...rest, results: await runResults(prisma, id.data, runId) });
  } catch (e) {
    if (e instanceof PipelineNotFoundError) return jsonError(404, e.message);
    throw e;
  }
}
