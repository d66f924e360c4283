// GET /api/projects/{projectId}/resources/{resourceId}/files/{name}: one file a pipeline stored
// (a resource, e.g. the segmentation NIfTI a task's overlay shows), under the download rule.
import { requireDownloadAccess } from "@/server/http/access";
import { resourceFileResponse } from "@/server/pipelines/results";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

type Ctx = { params: Promise<{ projectId: string; resourceId: string; name: string }> };

export async function GET(req: Request, { params }: Ctx) {
  const { projectId, resourceId, name } = await params;
  const a = await requireDownloadAccess(req.headers, projectId);
  if (!a.ok) return a.response;
  return resourceFileResponse(a.prisma, { projectId: a.project.id, userId: a.user?.id ?? null, tokenId: a.token?.tokenId ?? null }, resourceId, name);
}
