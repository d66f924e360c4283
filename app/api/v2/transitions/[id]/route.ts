// Study Governor API v2: GET /api/v2/transitions/{id} (server/compat/studygovernor).
import { getTransition } from "@/server/compat/studygovernor";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

type Ctx = { params: Promise<{ id: string }> };

export async function GET(req: Request, { params }: Ctx) {
  return getTransition(req, (await params).id);
}
