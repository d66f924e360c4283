// STOW-RS: POST /dicomweb/studies/{StudyInstanceUID} with a project API token (scope "stow");
// instances of another study fail with reason C409. The UID in the path is never logged.
import { requireTokenAccess } from "@/server/http/access";
import { handleStow, refuse } from "@/server/dicomweb/stow";
import { studyUidParam } from "@/server/dicomweb/params";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function POST(req: Request, { params }: { params: Promise<{ study: string }> }) {
  const access = await requireTokenAccess(req.headers, "member", "stow");
  if (!access.ok) return refuse(req, access.response);
  const study = studyUidParam((await params).study);
  if (!study.ok) return refuse(req, study.response);
  return handleStow(req, { prisma: access.prisma, projectId: access.project.id, studyInstanceUid: study.uid });
}
