// GET /api/projects/{projectId}/pixel-review/{instanceId}/image?frame=N — one frame of an instance
// held for a pixel review, at full size (PNG, or the JPEG Baseline frame itself). Owners only (the
// pixels may show identifying text); every view is audited (pixels.view), as header views are.
import { jsonError, requireProjectAccess } from "@/server/http/access";
import { renderHeld } from "@/server/pixels/review";
import { writeAudit } from "@/server/audit";
import { dataDir } from "@/lib/config";
import { RenderError } from "@/lib/dicomweb/render";
import { errorResponse } from "@/server/http/errors";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

type Ctx = { params: Promise<{ projectId: string; instanceId: string }> };

export async function GET(req: Request, { params }: Ctx) {
  const { projectId, instanceId } = await params;
  const access = await requireProjectAccess(req.headers, projectId, "owner");
  if (!access.ok) return access.response;
  const raw = new URL(req.url).searchParams.get("frame") ?? "1";
  if (!/^\d{1,6}$/.test(raw)) return jsonError(400, "frame must be a frame number (1, 2, …).");
  try {
    const img = await renderHeld(access.prisma, dataDir(), projectId, instanceId, Number(raw));
    await writeAudit(access.prisma, { projectId, actorId: access.user.id, action: "pixels.view", targetType: "instance", targetId: instanceId, after: { frame: Number(raw) } });
    return new Response(new Uint8Array(img.body), { status: 200, headers: { "content-type": img.contentType, "cache-control": "no-store", "x-content-type-options": "nosniff" } });
  } catch (e) {
    if (e instanceof RenderError) return jsonError(e.status, e.message);
    return errorResponse(e, "pixel-review.image");
  }
}
