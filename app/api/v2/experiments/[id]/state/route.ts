// Study Governor API v2: GET/PUT /api/v2/experiments/{id}/state (server/compat/studygovernor).
import { getExperimentState, putExperimentState } from "@/server/compat/studygovernor";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

type Ctx = { params: Promise<{ id: string }> };

export async function GET(req: Request, { params }: Ctx) {
  return getExperimentState(req, (await params).id);
}

export async function PUT(req: Request, { params }: Ctx) {
  return putExperimentState(req, (await params).id);
}
