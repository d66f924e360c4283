// Study Governor API v2, the callback protocol: GET/PUT /api/v2/callback_executions/{id} with the
// execution's secret (403 wrong secret, 409 once resolved) or a project token (server/compat/studygovernor).
import { getCallbackExecution, putCallbackExecution } from "@/server/compat/studygovernor";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

type Ctx = { params: Promise<{ id: string }> };

export async function GET(req: Request, { params }: Ctx) {
  return getCallbackExecution(req, (await params).id);
}

export async function PUT(req: Request, { params }: Ctx) {
  return putCallbackExecution(req, (await params).id);
}
