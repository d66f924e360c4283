// GET /api/projects/{projectId}/jobs/{jobId}/log: a pipeline job's whole log, as a file
// (collaborators and up, as the run page; the page shows the tail live).
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { jsonError, requireProjectAccess } from "@/server/http/access";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

type Ctx = { params: Promise<{ projectId: string; jobId: string }> };

export async function GET(req: Request, { params }: Ctx) {
  const { projectId, jobId } = await params;
  const a = await requireProjectAccess(req.headers, projectId, "collaborator");
  if (!a.ok) return a.response;
  const job = /^[A-Za-z0-9_-]{1,64}$/.test(jobId) ? await a.prisma.pipelineJob.findFirst({ where: { id: jobId, run: { projectId: a.project.id } }, select: { key: true, logPath: true } }) : null;
  if (!job) return jsonError(404, `No job ${jobId} in project ${a.project.id}.`);
  const size = await stat(job.logPath).then((s) => s.size).catch(() => null);
  const name = `${job.key.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 100)}.log`;
  const headers = { "content-type": "text/plain; charset=utf-8", "content-disposition": `attachment; filename="${name}"`, "cache-control": "no-store" };
  if (!size) return new Response("", { headers });
  return new Response(Readable.toWeb(createReadStream(job.logPath, { end: size - 1 })) as ReadableStream, { headers: { ...headers, "content-length": String(size) } });
}
