// A task template's overlays: pipeline results (a segmentation NIfTI or DICOM SEG that a run stored
// on the experiment as a resource, server/pipelines/job.ts writeSinks) found for a task's
// experiment and handed to the viewer, which shows them as labelmaps. An overlay selector names the
// pipeline and the resource (`output`: the sink's resource name); the newest matching resource wins,
// so a re-run's result replaces the old one on the task page too.
import type { PrismaClient } from "@/server/db/generated/client";
import { archiveBlobStore } from "@/lib/blob";
import { readSegmentation } from "@/lib/tasks/seg";
import { TaskTemplate } from "@/lib/tasks/template";
import type { LabelOverlay } from "@/lib/viewer/viewer";
import { getTask } from "./ops";
import { experimentStoredOutputs, overlayFormatOf, type OverlayFormat } from "./outputs";

/** The largest SEG read for an overlay (bytes): a viewer aid, not a bulk reader. */
const MAX_SEG_BYTES = 64 * 1024 * 1024;

/** One overlay of a task as the viewer takes it (LabelOverlay), with where it comes from. */
export interface TaskOverlay extends LabelOverlay {
  pipeline: string;
  output: string;
  runId: string | null;
  fileName: string | null;
  format: OverlayFormat | null;
}

/**
 * The overlays of a task's template with the experiment's current pipeline results. The task is
 * read through getTask (the same visibility as the task page); a SEG is read here and sent as a
 * labelmap, a NIfTI is read by the viewer from its URL.
 */
export async function taskOverlays(prisma: PrismaClient, projectId: string, taskId: string, userId: string): Promise<TaskOverlay[]> {
  const task = await getTask(prisma, taskId, userId, projectId);
  if (task.template.format !== "atrium" || !task.experimentId) return [];
  const parsed = TaskTemplate.safeParse(task.template.definition);
  if (!parsed.success) return [];
  const selectors = Object.entries(parsed.data.overlays);
  if (!selectors.length) return [];
  const outputs = (await experimentStoredOutputs(prisma, projectId, [task.experimentId])).get(task.experimentId) ?? [];
  const result: TaskOverlay[] = [];
  for (const [name, sel] of selectors) {
    const base = { name, label: sel.label, pipeline: sel.pipeline, output: sel.output, runId: null, fileName: null, format: null, url: null, labels: null, labelmap: null };
    const found = outputs.find((o) => o.info.pipeline === sel.pipeline && o.info.output === sel.output);
    if (!found) {
      result.push({ ...base, message: `Pipeline "${sel.pipeline}" has not stored "${sel.output}" for this experiment yet; run it, then reopen the task.` });
      continue;
    }
    const { info, file } = found;
    const at = { ...base, runId: info.runId ?? null };
    if (!file) {
      result.push({ ...at, message: `"${sel.output}" of pipeline "${sel.pipeline}" holds no NIfTI (.nii, .nii.gz) or DICOM SEG (.dcm) file; the pipeline should store its segmentation as one.` });
      continue;
    }
    if (!file.blobKey) {
      result.push({ ...at, fileName: file.name, message: `"${sel.output}" is stored on the project's XNAT, not in Atrium's archive; overlays are shown from the local archive only.` });
      continue;
    }
    const format = overlayFormatOf(file.name)!;
    if (format === "nifti") {
      result.push({ ...at, fileName: file.name, format, url: info.url, message: null });
      continue;
    }
    if ((file.size ?? 0) > MAX_SEG_BYTES) {
      result.push({ ...at, fileName: file.name, format, message: `${file.name} is larger than ${MAX_SEG_BYTES / 1024 / 1024} MB; it is not read as an overlay.` });
      continue;
    }
    try {
      const seg = readSegmentation(await archiveBlobStore().read(file.blobKey), name);
      result.push({ ...at, fileName: file.name, format, labels: seg.labels, labelmap: seg.labelmap, message: null });
    } catch (e) {
      result.push({ ...at, fileName: file.name, format, message: `${file.name} could not be read as a DICOM SEG (${(e as Error).message.slice(0, 160)}).` });
    }
  }
  return result;
}
