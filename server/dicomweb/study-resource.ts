// GET /dicomweb/projects/{projectId}/studies/{…}: the access check (server/dicomweb/access), then
// the read (server/dicomweb/read) with its audit (server/dicomweb/read-audit). One function for the
// Next.js route (app/dicomweb/projects/[projectId]/studies/[...path]) and for `atrium start`'s
// direct handler of the same URLs (server/dicomweb/node-handler), so both answer alike.
import { requireDicomwebAccess, wadoOperation } from "./access";
import { handleWado } from "./read";
import { auditStudyRead } from "./read-audit";

/** `projectId` and `path` (the segments after "studies/") URL-decoded, as Next.js hands a catch-all's. */
export async function getStudyResource(req: Request, projectId: string, path: string[]): Promise<Response> {
  const access = await requireDicomwebAccess(req, projectId, wadoOperation(path));
  if (!access.ok) return access.response;
  const { prisma } = access;
  const reader = { userId: access.user?.id ?? null, token: access.token ? { tokenId: access.token.tokenId, name: access.token.name } : null };
  return handleWado(req, { prisma, projectId: access.project.id, onStoredRead: (study, what) => auditStudyRead(prisma, access.project.id, reader, study, what) }, path);
}
