// Study Governor API v2: GET /api/v2/states/{id} (server/compat/studygovernor).
import { getState } from "@/server/compat/studygovernor";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

type Ctx = { params: Promise<{ id: string }> };

export async function GET(req: Request, { params }: Ctx) {
  return getState(req, (await params).id);
}
