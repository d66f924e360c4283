// Operator API for `atrium seed-demo`: ensures the demo project; the command then sends the samples.
import { z } from "zod";
import { db } from "@/server/db";
import { jsonError } from "@/server/http/access";
import { errorResponse } from "@/server/http/errors";
import { isOperator, listeningDicomPort } from "@/server/local/operator";
import { registerExamples } from "@/server/pipelines/registry";
import { DEMO_AE_TITLE, DEMO_PROJECT_ID, ensureDemoProject, ensureDemoWorkflow } from "@/server/intake/demo";
import { ensureDemoTasks } from "@/server/tasks/demo";

export const dynamic = "force-dynamic";
const bodySchema = z.object({
  ownerEmail: z.string().email().optional(),
  /** Reader accounts reader1@demo.invalid … to add to DEMO and the demo task group's pool. */
  readers: z.number().int().min(0).max(50).optional(),
  /** Only top up the demo task group with the experiments archived since (after the samples were sent). */
  tasksOnly: z.boolean().optional(),
});

export async function POST(req: Request) {
  if (!isOperator(req.headers)) return jsonError(401, "Operator token missing or wrong: run `atrium seed-demo` on the machine Atrium runs on, with the same ATRIUM_DATA_DIR.");
  const body = bodySchema.safeParse(await req.json().catch(() => ({})));
  if (!body.success) return jsonError(400, `Bad request: ${body.error.issues[0]!.message}`);
  try {
    const prisma = await db();
    if (body.data.tasksOnly) {
      const tasks = await ensureDemoTasks(prisma, DEMO_PROJECT_ID, { readers: body.data.readers, ownerEmail: body.data.ownerEmail });
      return Response.json({ projectId: DEMO_PROJECT_ID, aeTitle: DEMO_AE_TITLE, created: false, dicomPort: listeningDicomPort(), tasks });
    }
    const { created } = await ensureDemoProject(prisma, body.data.ownerEmail);
    // DEMO follows the default workflow, so its board shows the samples moving (issue #16).
    await ensureDemoWorkflow(prisma);
    // The example pipelines (dicom-stats, subject-summary), so that `atrium run --project DEMO --pipeline dicom-stats --all` works.
    const pipelines = (await registerExamples(prisma, DEMO_PROJECT_ID)).map((p) => `${p.pipelineId}@${p.version}`);
    const tasks = await ensureDemoTasks(prisma, DEMO_PROJECT_ID, { readers: body.data.readers, ownerEmail: body.data.ownerEmail });
    return Response.json({ projectId: DEMO_PROJECT_ID, aeTitle: DEMO_AE_TITLE, created, dicomPort: listeningDicomPort(), pipelines, tasks });
  } catch (e) {
    // What ensureDemoProject refuses says why (409); a database error is never quoted.
    return errorResponse(e, "seed-demo", 409);
  }
}
