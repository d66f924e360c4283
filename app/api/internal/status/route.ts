// Operator API for `atrium status` when Atrium runs on the embedded database (one process only).
import { db } from "@/server/db";
import { jsonError } from "@/server/http/access";
import { isOperator } from "@/server/local/operator";
import { intakeSummary } from "@/server/intake/summary";
import { projectIdSchema } from "@/lib/projects";

export const dynamic = "force-dynamic";

export async function GET(req: Request) {
  if (!isOperator(req.headers)) return jsonError(401, "Operator token missing or wrong: run `atrium status` on the machine Atrium runs on, with the same ATRIUM_DATA_DIR.");
  const id = projectIdSchema.safeParse(new URL(req.url).searchParams.get("project") ?? "");
  if (!id.success) return jsonError(400, id.error.issues[0]!.message);
  const prisma = await db();
  const project = await prisma.project.findUnique({ where: { id: id.data } });
  if (!project) return jsonError(404, `No project "${id.data}". List them in the portal, or check the id's case.`);
  return Response.json({ name: project.name, summary: await intakeSummary(prisma, project.id) });
}
