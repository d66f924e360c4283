// GET /api/v1/tasks/{id}: the task, its template (the version it was made with), the data
// references (DICOMweb URLs of its matched scans) and the caller's own draft.
import { answer, taskAccess, taskCaller } from "@/server/http/task-api";
import { taskView } from "@/server/tasks/views";

export const dynamic = "force-dynamic";

export async function GET(req: Request, { params }: { params: Promise<{ id: string }> }) {
  return answer(async () => {
    const { id } = await params;
    const { prisma, user } = await taskCaller(req.headers);
    const project = await taskAccess(prisma, user, id, "member");
    const v = await taskView(prisma, id, user.id, project.id);
    const base = `/dicomweb/projects/${encodeURIComponent(project.id)}`;
    const scans = Object.fromEntries(
      Object.entries(v.resolution?.scans ?? {}).map(([name, s]) => [name, { label: s.label, seriesInstanceUid: s.seriesInstanceUid, seriesDescription: s.seriesDescription, url: v.experiment ? `${base}/studies/${v.experiment.studyInstanceUid}/series/${s.seriesInstanceUid}` : null }]),
    );
    return Response.json({
      id: v.id, number: v.number, projectId: v.projectId, groupId: v.groupId, kind: v.kind, state: v.state, lockExpiresAt: v.lockExpiresAt, readerIsMe: v.mine,
      experiment: v.experiment, template: v.template, cannotBeDone: v.resolution?.cannotBeDone ?? null,
      data: { dicomweb: base, scans, overlays: v.resolution?.overlays ?? {} },
      draft: v.draft, result: v.result, reads: project.level === "owner" || v.mine ? v.reads : [],
    });
  });
}
