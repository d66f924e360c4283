// Download from the local archive as a streamed zip (subject/experiment/scan/instance.dcm).
//   GET  /api/projects/{projectId}/download?scan=<id>        one scan
//   GET  /api/projects/{projectId}/download?experiment=<id>  one experiment
//   POST /api/projects/{projectId}/download  {"scans": [...], "experiments": [...]}  a selection
// Signed-in members and owners; collaborators when the project allows it; a "read" API token.
import { jsonError } from "@/server/http/access";
import { authorizeDownload, streamDownload } from "@/server/archive/download";
import { downloadQuerySchema, downloadSelectionSchema } from "@/lib/archive/download";
import { readableZodMessage } from "@/server/trpc/init";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

type Ctx = { params: Promise<{ projectId: string }> };

export async function GET(req: Request, { params }: Ctx) {
  const auth = await authorizeDownload(req, (await params).projectId);
  if (!auth.ok) return auth.response;
  const q = new URL(req.url).searchParams;
  const parsed = downloadQuerySchema.safeParse({ scan: q.get("scan") ?? undefined, experiment: q.get("experiment") ?? undefined });
  if (!parsed.success) return jsonError(400, readableZodMessage(parsed.error));
  const what = parsed.data.scan ? ({ kind: "scan", scanId: parsed.data.scan } as const) : ({ kind: "experiment", experimentId: parsed.data.experiment! } as const);
  return streamDownload(auth.caller, what);
}

export async function POST(req: Request, { params }: Ctx) {
  const auth = await authorizeDownload(req, (await params).projectId);
  if (!auth.ok) return auth.response;
  if (!(req.headers.get("content-type") ?? "").toLowerCase().startsWith("application/json")) {
    return jsonError(415, 'Send the selection as JSON (Content-Type: application/json): {"scans": [ids], "experiments": [ids], "subjects": [labels]}.');
  }
  const text = await req.text();
  if (text.length > 2_000_000) return jsonError(413, "The selection is too large; download in parts.");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return jsonError(400, 'The body is not valid JSON. Send {"scans": [ids], "experiments": [ids]}.');
  }
  const parsed = downloadSelectionSchema.safeParse(body);
  if (!parsed.success) return jsonError(400, readableZodMessage(parsed.error));
  return streamDownload(auth.caller, { kind: "selection", selection: parsed.data });
}
