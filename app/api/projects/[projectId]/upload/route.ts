// Browser upload into a project: POST /api/projects/{projectId}/upload?batch=<uuid>, by a signed-in
// member or owner. The body is one DICOM file (application/dicom) or one zip archive
// (application/zip); X-Atrium-File-Name (URI-encoded) names it in the answer. See server/intake/upload.ts.
import { requireProjectAccess, jsonError } from "@/server/http/access";
import { refuse } from "@/server/dicomweb/stow";
import { handleUpload } from "@/server/intake/upload";
import { batchIdSchema } from "@/lib/intake/upload";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function POST(req: Request, { params }: { params: Promise<{ projectId: string }> }) {
  const access = await requireProjectAccess(req.headers, (await params).projectId, "member");
  if (!access.ok) return refuse(req, access.response);
  const batch = batchIdSchema.safeParse(new URL(req.url).searchParams.get("batch"));
  if (!batch.success) {
    return refuse(req, jsonError(400, "The upload has no valid batch id: add ?batch=<uuid>, the same for every file of one upload session, so its outcome can be followed."));
  }
  let name = "upload";
  const raw = req.headers.get("x-atrium-file-name");
  if (raw) {
    try {
      name = decodeURIComponent(raw).slice(0, 1024);
    } catch {
      name = raw.slice(0, 1024);
    }
  }
  return handleUpload(req, { prisma: access.prisma, projectId: access.project.id, batchId: batch.data, name });
}
