// /dicomweb/projects/{projectId}/studies
//   POST: STOW-RS into the project, by a signed-in member (session) or the project's API token (scope "stow").
//   GET:  QIDO-RS search for studies in the project's local archive (collaborator+, or a token with scope "read").
import { requireDicomwebAccess } from "@/server/dicomweb/access";
import { handleStow, refuse } from "@/server/dicomweb/stow";
import { handleQido } from "@/server/dicomweb/read";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function POST(req: Request, { params }: { params: Promise<{ projectId: string }> }) {
  const access = await requireDicomwebAccess(req, (await params).projectId, "stow");
  if (!access.ok) return refuse(req, access.response);
  return handleStow(req, { prisma: access.prisma, projectId: access.project.id });
}

export async function GET(req: Request, { params }: { params: Promise<{ projectId: string }> }) {
  const access = await requireDicomwebAccess(req, (await params).projectId, "read");
  if (!access.ok) return access.response;
  return handleQido(req, { prisma: access.prisma, projectId: access.project.id }, "study");
}
