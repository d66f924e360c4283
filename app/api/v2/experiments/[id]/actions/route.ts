// Study Governor API v2: GET /api/v2/experiments/{id}/actions (server/compat/studygovernor).
import { getExperimentActions } from "@/server/compat/studygovernor";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

type Ctx = { params: Promise<{ id: string }> };

export async function GET(req: Request, { params }: Ctx) {
  return getExperimentActions(req, (await params).id);
}
