// The one access check of the DICOMweb routes under /dicomweb/projects/{projectId}/…: a signed-in
// user with the project level the operation needs, or that project's API token with the scope:
// reading (QIDO-RS, WADO-RS, rendered, thumbnails) needs collaborator and the "read" scope;
// storing (STOW-RS) needs member and the "stow" scope. Refusals are 401 (with a Bearer challenge),
// 403 or 404, their JSON saying what to do.
import { requireProjectAccessOrToken, type ProjectAccessOrTokenResult } from "@/server/http/access";

export type DicomwebOperation = "read" | "stow";

export async function requireDicomwebAccess(req: Request, projectId: string, operation: DicomwebOperation = "read"): Promise<ProjectAccessOrTokenResult> {
  return operation === "read"
    ? requireProjectAccessOrToken(req.headers, projectId, "collaborator", "read")
    : requireProjectAccessOrToken(req.headers, projectId, "member", "stow");
}
