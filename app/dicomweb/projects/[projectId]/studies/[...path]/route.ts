// GET /dicomweb/projects/{projectId}/studies/{study}/… : WADO-RS (instances, metadata, frames,
// bulk data), rendered and thumbnail images, and QIDO-RS for the series and instances of a study,
// from the project's local archive (collaborator+, or a token with scope "read").
import { requireDicomwebAccess } from "@/server/dicomweb/access";
import { handleWado } from "@/server/dicomweb/read";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function GET(req: Request, { params }: { params: Promise<{ projectId: string; path: string[] }> }) {
  const { projectId, path } = await params;
  const access = await requireDicomwebAccess(req, projectId, "read");
  if (!access.ok) return access.response;
  return handleWado(req, { prisma: access.prisma, projectId: access.project.id }, path);
}
