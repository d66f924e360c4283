// What pipelines stored for one experiment (issue #12, "results in Browse"): its named values (on the
// experiment, its scans and its subject) and its resources (files written back), each with the run
// that stored it. Read by the Browse panel's experiment level.
import { Readable } from "node:stream";
import type { PrismaClient } from "@/server/db/generated/client";
import { archiveBlobStore } from "@/lib/blob";
import { writeAudit } from "@/server/audit";
import { jsonError } from "@/server/http/access";

export async function experimentResults(prisma: PrismaClient, projectId: string, experimentId: string) {
  const e = await prisma.archiveExperiment.findFirst({ where: { id: experimentId, projectId }, select: { id: true, subjectId: true, scans: { select: { id: true, seriesNumber: true, seriesDescription: true } } } });
  if (!e) return null;
  const scanOf = new Map(e.scans.map((s) => [s.id, s]));
  const where = { projectId, OR: [{ experimentId }, { subjectId: e.subjectId, experimentId: null }] };
  const [values, resources] = await Promise.all([
    prisma.archiveValue.findMany({ where, orderBy: [{ name: "asc" }, { updatedAt: "desc" }], take: 1000, select: { id: true, name: true, value: true, scanId: true, experimentId: true, runId: true, updatedAt: true } }),
    prisma.archiveResource.findMany({ where, orderBy: [{ name: "asc" }, { updatedAt: "desc" }], take: 500, select: { id: true, name: true, files: true, scanId: true, experimentId: true, runId: true, updatedAt: true } }),
  ]);
  const runIds = [...new Set([...values, ...resources].map((r) => r.runId).filter((x): x is string => Boolean(x)))];
  const runs = new Map(
    runIds.length ? (await prisma.pipelineRun.findMany({ where: { id: { in: runIds }, projectId }, select: { id: true, pipelineId: true, pipelineVersion: true } })).map((r) => [r.id, `${r.pipelineId} ${r.pipelineVersion}`]) : [],
  );
  const where_ = (r: { scanId: string | null; experimentId: string | null }) => {
    if (r.scanId) {
      const s = scanOf.get(r.scanId);
      return `scan ${s?.seriesNumber ?? "?"}${s?.seriesDescription ? ` (${s.seriesDescription})` : ""}`;
    }
    return r.experimentId ? "experiment" : "subject";
  };
  const run = (id: string | null) => (id ? { id, pipeline: runs.get(id) ?? null } : null);
  return {
    values: values.map((v) => ({ id: v.id, name: v.name, value: v.value, on: where_(v), run: run(v.runId), updatedAt: v.updatedAt })),
    resources: resources.map((r) => {
      const files = Array.isArray(r.files) ? (r.files as { name?: string; size?: number }[]) : [];
      return { id: r.id, name: r.name, on: where_(r), files: files.length, bytes: files.reduce((n, f) => n + (Number(f.size) || 0), 0), run: run(r.runId), updatedAt: r.updatedAt };
    }),
  };
}

/**
 * One file of a stored resource, as a download (audited as `resource.read`): 404 when the project has
 * no such resource or file, 409 when the file is on the project's XNAT rather than in Atrium's store.
 */
export async function resourceFileResponse(prisma: PrismaClient, caller: { projectId: string; userId: string | null; tokenId: string | null }, resourceId: string, fileName: string): Promise<Response> {
  const resource = /^[A-Za-z0-9_-]{1,64}$/.test(resourceId)
    ? await prisma.archiveResource.findFirst({ where: { id: resourceId, projectId: caller.projectId }, select: { id: true, name: true, files: true } })
    : null;
  if (!resource) return jsonError(404, `No stored result ${resourceId} in project ${caller.projectId}; it may have been replaced by a newer run (reload the page).`);
  const file = ((Array.isArray(resource.files) ? resource.files : []) as { name: string; size?: number; blobKey?: string }[]).find((f) => f.name === fileName);
  if (!file) return jsonError(404, `The stored result "${resource.name}" has no file of that name; its Browse panel lists what it holds.`);
  if (!file.blobKey) return jsonError(409, `The stored result "${resource.name}" is on the project's XNAT, not in Atrium's archive; read it from XNAT.`);
  const store = archiveBlobStore();
  const size = (await store.stat(file.blobKey))?.size;
  if (size == null) return jsonError(404, `The file of "${resource.name}" is missing from the archive's store; run the pipeline again.`);
  await writeAudit(prisma, { projectId: caller.projectId, actorId: caller.userId, action: "resource.read", targetType: "ArchiveResource", targetId: resource.id, after: { file: fileName, bytes: size, ...(caller.tokenId ? { tokenId: caller.tokenId } : {}) } });
  const body = Readable.toWeb(await store.get(file.blobKey)) as ReadableStream;
  const type = /\.gz$/i.test(fileName) ? "application/gzip" : /\.dcm$/i.test(fileName) ? "application/dicom" : "application/octet-stream";
  return new Response(body, {
    headers: {
      "content-type": type,
      "content-length": String(size),
      "content-disposition": `attachment; filename="${fileName.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 120)}"`,
      "cache-control": "private, no-store",
    },
  });
}
