// The pipeline results stored on experiments (resources a run wrote back: server/pipelines/job.ts
// writeSinks), as a task template's overlay selectors match them (lib/tasks/match resolveTemplate),
// and the file of each that an overlay shows.
import type { PrismaClient } from "@/server/db/generated/client";
import type { OutputInfo } from "@/lib/tasks/match";

export type StoredFile = { name: string; size?: number; blobKey?: string; xnat?: string };

export type OverlayFormat = "nifti" | "seg";
export const overlayFormatOf = (fileName: string): OverlayFormat | null => (/\.nii(\.gz)?$/i.test(fileName) ? "nifti" : /\.dcm$/i.test(fileName) ? "seg" : null);

/** The URL of one file of a stored resource (GET, the download rule: app/api/projects/[projectId]/resources/…). */
export const resourceFileUrl = (projectId: string, resourceId: string, fileName: string) =>
  `/api/projects/${encodeURIComponent(projectId)}/resources/${encodeURIComponent(resourceId)}/files/${encodeURIComponent(fileName)}`;

/** The file of a resource an overlay shows: its first NIfTI, else its first DICOM file, else none. */
export function overlayFile(files: StoredFile[]): StoredFile | null {
  const sorted = [...files].sort((a, b) => a.name.localeCompare(b.name));
  return sorted.find((f) => overlayFormatOf(f.name) === "nifti") ?? sorted.find((f) => overlayFormatOf(f.name) === "seg") ?? null;
}

/** A pipeline result stored on an experiment: what overlay selectors match, and the file an overlay shows. */
export interface StoredOutput {
  info: OutputInfo;
  file: StoredFile | null;
}

/**
 * The pipeline results stored on each of these experiments (or their scans), newest first, each
 * with the file an overlay of it shows.
 */
export async function experimentStoredOutputs(prisma: PrismaClient, projectId: string, experimentIds: string[]): Promise<Map<string, StoredOutput[]>> {
  const out = new Map<string, StoredOutput[]>();
  if (!experimentIds.length) return out;
  const resources = await prisma.archiveResource.findMany({
    where: { projectId, experimentId: { in: experimentIds }, runId: { not: null } },
    select: { id: true, name: true, files: true, experimentId: true, runId: true },
    orderBy: { updatedAt: "desc" },
  });
  if (!resources.length) return out;
  const runs = new Map(
    (await prisma.pipelineRun.findMany({ where: { id: { in: [...new Set(resources.map((r) => r.runId!))] }, projectId }, select: { id: true, pipelineId: true } })).map((r) => [r.id, r.pipelineId]),
  );
  for (const r of resources) {
    const pipeline = runs.get(r.runId!);
    if (!pipeline || !r.experimentId) continue;
    const file = overlayFile((Array.isArray(r.files) ? r.files : []) as StoredFile[]);
    const list = out.get(r.experimentId) ?? [];
    list.push({ info: { pipeline, output: r.name, url: file ? resourceFileUrl(projectId, r.id, file.name) : "", runId: r.runId!, resourceId: r.id }, file });
    out.set(r.experimentId, list);
  }
  return out;
}

/** The pipeline results stored on each of these experiments, as a template's overlay selectors match them (lib/tasks/match resolveTemplate). */
export async function experimentOutputs(prisma: PrismaClient, projectId: string, experimentIds: string[]): Promise<Map<string, OutputInfo[]>> {
  const stored = await experimentStoredOutputs(prisma, projectId, experimentIds);
  return new Map([...stored].map(([experimentId, list]) => [experimentId, list.map((o) => o.info)]));
}
