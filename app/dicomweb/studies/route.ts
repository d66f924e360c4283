// STOW-RS: POST /dicomweb/studies with a project API token (scope "stow"); the token decides the project.
import { requireTokenAccess } from "@/server/http/access";
import { handleStow, refuse } from "@/server/dicomweb/stow";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function POST(req: Request) {
  const access = await requireTokenAccess(req.headers, "member", "stow");
  if (!access.ok) return refuse(req, access.response);
  return handleStow(req, { prisma: access.prisma, projectId: access.project.id });
}
