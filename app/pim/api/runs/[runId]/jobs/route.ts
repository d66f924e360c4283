// PUT /pim/api/runs/{runId}/jobs — a batch of job updates (and log records) for a registered run.
import { handleJobUpdates } from "@/server/pim/http";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function PUT(req: Request, { params }: { params: Promise<{ runId: string }> }) {
  return handleJobUpdates(req, (await params).runId);
}
