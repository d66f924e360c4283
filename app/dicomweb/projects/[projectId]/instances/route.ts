// GET /dicomweb/projects/{projectId}/instances: QIDO-RS search for instances across the project's local
// archive (collaborator+, or a token with scope "read").
import { requireDicomwebAccess } from "@/server/dicomweb/access";
import { handleQido } from "@/server/dicomweb/read";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function GET(req: Request, { params }: { params: Promise<{ projectId: string }> }) {
  const access = await requireDicomwebAccess(req, (await params).projectId, "read");
  if (!access.ok) return access.response;
  return handleQido(req, { prisma: access.prisma, projectId: access.project.id }, "instance");
}
