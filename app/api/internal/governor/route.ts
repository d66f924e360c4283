// Operator API for `atrium workflow import` and `atrium experiments` when Atrium runs on the
// embedded database (one process only): the operator token from the data directory.
//   GET  /api/internal/governor?project=P[&state=S]        the project's governed experiments
//   POST /api/internal/governor {project, source, adopt}   import a workflow file
import { db } from "@/server/db";
import { jsonError } from "@/server/http/access";
import { isOperator } from "@/server/local/operator";
import { projectIdSchema } from "@/lib/projects";
import { experimentsOf, importForProject } from "@/server/governor/ops";
import { z } from "zod";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const REFUSED = "Operator token missing or wrong: run the atrium command on the machine Atrium runs on, with the same ATRIUM_DATA_DIR.";

export async function GET(req: Request) {
  if (!isOperator(req.headers)) return jsonError(401, REFUSED);
  const q = new URL(req.url).searchParams;
  const id = projectIdSchema.safeParse(q.get("project") ?? "");
  if (!id.success) return jsonError(400, id.error.issues[0]!.message);
  const prisma = await db();
  if (!(await prisma.project.findUnique({ where: { id: id.data }, select: { id: true } }))) return jsonError(404, `No project "${id.data}". List them in the portal, or check the id's case.`);
  return Response.json({ experiments: await experimentsOf(prisma, id.data, q.get("state") ?? undefined) });
}

const body = z.object({ project: projectIdSchema, source: z.string().min(1).max(1_000_000), adopt: z.boolean().default(false) });

export async function POST(req: Request) {
  if (!isOperator(req.headers)) return jsonError(401, REFUSED);
  const b = body.safeParse(await req.json().catch(() => null));
  if (!b.success) return jsonError(400, `Send {project, source, adopt}: ${b.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const prisma = await db();
  if (!(await prisma.project.findUnique({ where: { id: b.data.project }, select: { id: true } }))) return jsonError(404, `No project "${b.data.project}". List them in the portal, or check the id's case.`);
  return Response.json(await importForProject(prisma, b.data.project, b.data.source, b.data.adopt));
}
