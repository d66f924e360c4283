// GET /dicomweb/projects/{projectId}/studies/{study}/… : WADO-RS (instances, metadata, frames,
// bulk data), rendered and thumbnail images, and QIDO-RS for the series and instances of a study,
// from the project's local archive. QIDO, rendered and thumbnails: collaborator+ (or a "read"
// token); stored bytes (retrieve, metadata, frames, bulk data): the download rule, audited once per
// reader and study (server/dicomweb/access, server/dicomweb/read-audit).
import { requireDicomwebAccess, wadoOperation } from "@/server/dicomweb/access";
import { handleWado } from "@/server/dicomweb/read";
import { auditStudyRead } from "@/server/dicomweb/read-audit";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function GET(req: Request, { params }: { params: Promise<{ projectId: string; path: string[] }> }) {
  const { projectId, path } = await params;
  const access = await requireDicomwebAccess(req, projectId, wadoOperation(path));
  if (!access.ok) return access.response;
  const { prisma } = access;
  const reader = { userId: access.user?.id ?? null, token: access.token ? { tokenId: access.token.tokenId, name: access.token.name } : null };
  return handleWado(req, { prisma, projectId: access.project.id, onStoredRead: (study, what) => auditStudyRead(prisma, access.project.id, reader, study, what) }, path);
}
