// Operator API for `atrium token create` when Atrium runs on the embedded database (one process only).
import { db } from "@/server/db";
import { jsonError } from "@/server/http/access";
import { isOperator } from "@/server/local/operator";
import { createTokenInput } from "@/lib/tokens";
import { createProjectToken } from "@/server/tokens/create";

export const dynamic = "force-dynamic";

export async function POST(req: Request) {
  if (!isOperator(req.headers)) return jsonError(401, "Operator token missing or wrong: run `atrium token create` on the machine Atrium runs on, with the same ATRIUM_DATA_DIR.");
  const input = createTokenInput.safeParse(await req.json().catch(() => null));
  if (!input.success) return jsonError(400, input.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
  const prisma = await db();
  if (!(await prisma.project.findUnique({ where: { id: input.data.projectId }, select: { id: true } }))) {
    return jsonError(404, `No project "${input.data.projectId}". List them in the portal, or check the id's case.`);
  }
  return Response.json(await createProjectToken(prisma, input.data, null, "operator"), { status: 201 });
}
