// Signed webhooks from scanners, PACS and Orthanc (see server/webhooks/accept.ts). Authenticated
// by the source's HMAC signature, not by a session: the source binds the project.
import { db } from "@/server/db";
import { acceptWebhook } from "@/server/webhooks/accept";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export async function POST(req: Request, { params }: { params: Promise<{ sourceId: string }> }) {
  const { sourceId } = await params;
  const answer = await acceptWebhook(await db(), sourceId, req);
  return Response.json(answer.body, { status: answer.status, headers: { "cache-control": "no-store" } });
}
