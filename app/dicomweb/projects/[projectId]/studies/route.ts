// STOW-RS into a named project: POST /dicomweb/projects/{projectId}/studies, by a signed-in
// member (session) or with that project's API token (scope "stow").
import { requireProjectAccessOrToken } from "@/server/http/access";
import { handleStow, refuse } from "@/server/dicomweb/stow";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function POST(req: Request, { params }: { params: Promise<{ projectId: string }> }) {
  const access = await requireProjectAccessOrToken(req.headers, (await params).projectId, "member", "stow");
  if (!access.ok) return refuse(req, access.response);
  return handleStow(req, { prisma: access.prisma, projectId: access.project.id });
}
