// The one access check of the DICOMweb routes under /dicomweb/projects/{projectId}/…: a signed-in
// user with the project level the operation needs, or that project's API token with the scope:
// - "read" (QIDO-RS, rendered images, thumbnails): collaborator and the "read" scope;
// - "retrieve" (WADO-RS instances, metadata, frames, bulk data: the stored files' bytes): the same
//   rule as zip downloads (server/http/access requireDownloadAccess): collaborators only when the
//   project allows collaborator download; members, owners and "read" tokens always;
// - "stow" (STOW-RS): member and the "stow" scope.
// Refusals are 401 (with a Bearer challenge), 403 or 404, their JSON saying what to do.
import { requireDownloadAccess, requireProjectAccessOrToken, type ProjectAccessOrTokenResult } from "@/server/http/access";
import { parseResource, returnsStoredBytes } from "@/lib/dicomweb/paths";

export type DicomwebOperation = "read" | "retrieve" | "stow";

export async function requireDicomwebAccess(req: Request, projectId: string, operation: DicomwebOperation = "read"): Promise<ProjectAccessOrTokenResult> {
  switch (operation) {
    case "read":
      return requireProjectAccessOrToken(req.headers, projectId, "collaborator", "read");
    case "retrieve":
      return requireDownloadAccess(req.headers, projectId);
    case "stow":
      return requireProjectAccessOrToken(req.headers, projectId, "member", "stow");
  }
}

/** The operation a GET below …/studies/ is: "retrieve" when it returns stored bytes, else "read". */
export function wadoOperation(segments: string[]): DicomwebOperation {
  const parsed = parseResource(segments);
  return parsed.ok && returnsStoredBytes(parsed.resource) ? "retrieve" : "read";
}
