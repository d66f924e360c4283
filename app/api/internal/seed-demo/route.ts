// Operator API for `atrium seed-demo`: ensures the demo project; the command then sends the samples.
import { z } from "zod";
import { db } from "@/server/db";
import { jsonError } from "@/server/http/access";
import { isOperator, listeningDicomPort } from "@/server/local/operator";
import { DEMO_AE_TITLE, DEMO_PROJECT_ID, ensureDemoProject } from "@/server/intake/demo";

export const dynamic = "force-dynamic";
const bodySchema = z.object({ ownerEmail: z.string().email().optional() });

export async function POST(req: Request) {
  if (!isOperator(req.headers)) return jsonError(401, "Operator token missing or wrong: run `atrium seed-demo` on the machine Atrium runs on, with the same ATRIUM_DATA_DIR.");
  const body = bodySchema.safeParse(await req.json().catch(() => ({})));
  if (!body.success) return jsonError(400, `Bad request: ${body.error.issues[0]!.message}`);
  try {
    const { created } = await ensureDemoProject(await db(), body.data.ownerEmail);
    return Response.json({ projectId: DEMO_PROJECT_ID, aeTitle: DEMO_AE_TITLE, created, dicomPort: listeningDicomPort() });
  } catch (e) {
    return jsonError(409, (e as Error).message);
  }
}
