// Study Governor API v2: GET /api/v2/experiments?state=&offset=&limit= (server/compat/studygovernor).
import { listExperiments } from "@/server/compat/studygovernor";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function GET(req: Request) {
  return listExperiments(req);
}
