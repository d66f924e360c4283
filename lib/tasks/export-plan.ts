// What a task result version writes to the archive: per template context, its measurements as one
// DICOM SR (TID 1500) and each brush labelmap as one DICOM SEG, with stable UIDs (a re-export of
// the same version replaces its objects instead of adding copies) and series numbers and
// descriptions that say which task and version they come from. server/tasks/export.ts writes them.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Labelmap, Measurement, SegmentLabel } from "@/lib/viewer/viewer";
import type { Annotation } from "./answers";
import type { TaskTemplate } from "./template";
import { toViewerAnnotations, viewerSetup } from "./viewer-map";

/** One object written to the archive for a result version (TaskResult.exports). */
export const TaskExportRecord = z.object({
  kind: z.enum(["sr", "seg"]),
  context: z.string(),
  seriesInstanceUid: z.string(),
  sopInstanceUid: z.string(),
  seriesNumber: z.number().int(),
  seriesDescription: z.string(),
  /** Measurements in the SR, or segments in the SEG. */
  items: z.number().int(),
  /** Measurements left out: drawn on a reformatted view or on an image the archive's index does not hold. */
  leftOut: z.number().int().default(0),
  /** Where the archive keeps it ("local", or the XNAT experiment's address). */
  location: z.string(),
});
export type TaskExportRecord = z.infer<typeof TaskExportRecord>;
export const TaskExportRecords = z.array(TaskExportRecord);

export type ExportItem =
  | { kind: "sr"; context: string; measurements: Measurement[]; seriesNumber: number; seriesDescription: string; seriesInstanceUid: string; sopInstanceUid: string }
  | { kind: "seg"; context: string; labelmap: Labelmap; labels: SegmentLabel[]; seriesNumber: number; seriesDescription: string; seriesInstanceUid: string; sopInstanceUid: string };

/** A UID under 2.25 derived from a name (stable: the same name gives the same UID). */
export function derivedUid(name: string): string {
  return `2.25.${BigInt(`0x${createHash("sha256").update(name).digest("hex").slice(0, 30)}`).toString()}`;
}

/** Series numbers of exports: 9000 + 10 × version + the object's place (readable, and clear of acquired series). */
const seriesNumberOf = (version: number, index: number) => 9000 + 10 * version + index;

/**
 * The objects a result version exports: measurements drawn on images (not on reformatted views,
 * which no image holds) and labelmaps that have painted pixels.
 */
export function exportPlan(template: TaskTemplate, annotations: readonly Annotation[], result: { id: string; version: number; taskNumber: number }): ExportItem[] {
  const items: ExportItem[] = [];
  for (const c of template.contexts) {
    const a = toViewerAnnotations(c.id, annotations);
    const name = (kind: string, i = 0) => `atrium-task-result:${result.id}:${c.id}:${kind}:${i}`;
    const title = template.contexts.length > 1 ? ` ${c.title}` : "";
    if (a.measurements.length > 0) {
      items.push({
        kind: "sr",
        context: c.id,
        measurements: a.measurements,
        seriesNumber: seriesNumberOf(result.version, items.length),
        seriesDescription: `Task #${result.taskNumber} v${result.version}${title} measurements`.slice(0, 64),
        seriesInstanceUid: derivedUid(name("sr-series")),
        sopInstanceUid: derivedUid(name("sr")),
      });
    }
    const labels = viewerSetup(c).labels;
    a.labelmaps.forEach((labelmap, i) => {
      if (!labelmap.slices.some((s) => s.runs.length > 0)) return;
      items.push({
        kind: "seg",
        context: c.id,
        labelmap,
        labels,
        seriesNumber: seriesNumberOf(result.version, items.length),
        seriesDescription: `Task #${result.taskNumber} v${result.version}${title} segmentation ${labelmap.scan}`.slice(0, 64),
        seriesInstanceUid: derivedUid(name("seg-series", i)),
        sopInstanceUid: derivedUid(name("seg", i)),
      });
    });
  }
  return items;
}

/** The images the plan references (SOP Instance UIDs), to look up in the archive. */
export function referencedImages(items: readonly ExportItem[]): string[] {
  const sops = new Set<string>();
  for (const it of items) {
    if (it.kind === "sr") it.measurements.forEach((m) => m.ref.sopInstanceUid && sops.add(m.ref.sopInstanceUid));
    else it.labelmap.slices.forEach((s) => s.runs.length && sops.add(s.sopInstanceUid));
  }
  return [...sops];
}
