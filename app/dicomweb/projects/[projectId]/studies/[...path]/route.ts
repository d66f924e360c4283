// GET /dicomweb/projects/{projectId}/studies/{study}/… : WADO-RS (instances, metadata, frames,
// bulk data), rendered and thumbnail images, and QIDO-RS for the series and instances of a study,
// from the project's local archive. QIDO, rendered and thumbnails: collaborator+ (or a "read"
// token); stored bytes (retrieve, metadata, frames, bulk data): the download rule, audited once per
// reader and study (server/dicomweb/access, server/dicomweb/read-audit). `atrium start` answers
// these URLs before Next.js with the same function (server/dicomweb/node-handler).
import { getStudyResource } from "@/server/dicomweb/study-resource";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function GET(req: Request, { params }: { params: Promise<{ projectId: string; path: string[] }> }) {
  const { projectId, path } = await params;
  return getStudyResource(req, projectId, path);
}
