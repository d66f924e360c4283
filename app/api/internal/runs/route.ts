// Operator API for `atrium runs` when Atrium runs on the embedded database (one process only).
import { db } from "@/server/db";
import { jsonError } from "@/server/http/access";
import { isOperator } from "@/server/local/operator";
import { projectIdSchema } from "@/lib/projects";
import { listRuns } from "@/server/runs/list";

export const dynamic = "force-dynamic";

export async function GET(req: Request) {
  if (!isOperator(req.headers)) return jsonError(401, "Operator token missing or wrong: run `atrium runs` on the machine Atrium runs on, with the same ATRIUM_DATA_DIR.");
  const given = new URL(req.url).searchParams.get("project");
  const id = given === null ? null : projectIdSchema.safeParse(given);
  if (id && !id.success) return jsonError(400, id.error.issues[0]!.message);
  const prisma = await db();
  if (id && !(await prisma.project.findUnique({ where: { id: id.data }, select: { id: true } }))) return jsonError(404, `No project "${id.data}". List them in the portal, or check the id's case.`);
  return Response.json({ runs: await listRuns(prisma, id ? id.data : null) });
}
