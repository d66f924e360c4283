// The DICOM SR measurement reports and SEG segmentations an experiment holds in the local archive
// (task results exported by server/tasks/export.ts, or any TID 1500 SR / binary SEG), read back
// for the viewer: measurements and labelmaps placed on the series of the images they reference.
import type { PrismaClient } from "@/server/db/generated/client";
import { archiveBlobStore } from "@/lib/blob";
import { childLog } from "@/lib/log";
import { COMPREHENSIVE_3D_SR, readMeasurementReport } from "@/lib/tasks/sr";
import { readSegmentation, SEGMENTATION_STORAGE } from "@/lib/tasks/seg";
import type { Labelmap, Measurement, SegmentLabel } from "@/lib/viewer/viewer";

const log = childLog("archived-results");
/** Objects read per request, and the largest read (bytes): a viewer aid, not a bulk reader. */
const MAX_OBJECTS = 20;
const MAX_BYTES = 64 * 1024 * 1024;
const SR_CLASSES = [COMPREHENSIVE_3D_SR, "1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33"];

export interface ArchivedReport {
  seriesInstanceUid: string;
  seriesDescription: string | null;
  /** ref.scan is the Series Instance UID of the image each measurement is on. */
  measurements: Measurement[];
}
export interface ArchivedSegmentation {
  seriesInstanceUid: string;
  seriesDescription: string | null;
  labels: SegmentLabel[];
  /** labelmap.scan is the Series Instance UID of the segmented images. */
  labelmap: Labelmap;
}

export async function archivedResults(prisma: PrismaClient, projectId: string, experimentId: string): Promise<{ reports: ArchivedReport[]; segmentations: ArchivedSegmentation[]; unreadable: number }> {
  const rows = await prisma.archiveInstance.findMany({
    where: { scan: { experimentId, experiment: { projectId } }, sopClassUid: { in: [...SR_CLASSES, SEGMENTATION_STORAGE] }, sizeBytes: { lte: MAX_BYTES } },
    select: { id: true, sopClassUid: true, blobKey: true, scan: { select: { seriesInstanceUid: true, seriesDescription: true } } },
    orderBy: [{ scan: { seriesNumber: "asc" } }, { createdAt: "asc" }],
    take: MAX_OBJECTS,
  });
  const reports: ArchivedReport[] = [];
  const segmentations: ArchivedSegmentation[] = [];
  const placed: { sops: string[]; assign: (seriesOf: Map<string, string>) => void }[] = [];
  let unreadable = 0;
  for (const r of rows) {
    try {
      const bytes = await archiveBlobStore().read(r.blobKey);
      if (r.sopClassUid === SEGMENTATION_STORAGE) {
        const seg = readSegmentation(bytes, "");
        const out: ArchivedSegmentation = { seriesInstanceUid: r.scan.seriesInstanceUid, seriesDescription: r.scan.seriesDescription, labels: seg.labels, labelmap: seg.labelmap };
        segmentations.push(out);
        placed.push({ sops: seg.labelmap.slices.map((s) => s.sopInstanceUid), assign: (seriesOf) => (out.labelmap.scan = seriesOf.get(seg.labelmap.slices[0]?.sopInstanceUid ?? "") ?? "") });
      } else {
        const found = readMeasurementReport(bytes);
        const measurements: Measurement[] = found
          .filter((m) => m.sopInstanceUid)
          .map((m, i) => ({ uid: `${r.id}-${i}`, tool: m.tool, ref: { scan: "", sopInstanceUid: m.sopInstanceUid!, ...(m.frame ? { frame: m.frame } : {}), ...(m.frameOfReferenceUid ? { frameOfReferenceUid: m.frameOfReferenceUid } : {}) }, points: m.points, ...(m.label ? { label: m.label.slice(0, 200) } : {}) }));
        reports.push({ seriesInstanceUid: r.scan.seriesInstanceUid, seriesDescription: r.scan.seriesDescription, measurements });
        placed.push({ sops: measurements.map((m) => m.ref.sopInstanceUid!), assign: (seriesOf) => measurements.forEach((m) => (m.ref.scan = seriesOf.get(m.ref.sopInstanceUid!) ?? "")) });
      }
    } catch (e) {
      unreadable++;
      log.warn({ instanceId: r.id, error: (e as Error).name }, "an archived SR or SEG could not be read back");
    }
  }
  const sops = [...new Set(placed.flatMap((p) => p.sops))];
  const images = sops.length
    ? await prisma.archiveInstance.findMany({ where: { sopInstanceUid: { in: sops }, scan: { experimentId } }, select: { sopInstanceUid: true, scan: { select: { seriesInstanceUid: true } } } })
    : [];
  const seriesOf = new Map(images.map((i) => [i.sopInstanceUid, i.scan.seriesInstanceUid]));
  placed.forEach((p) => p.assign(seriesOf));
  return {
    reports: reports.map((r) => ({ ...r, measurements: r.measurements.filter((m) => m.ref.scan) })).filter((r) => r.measurements.length),
    segmentations: segmentations.filter((s) => s.labelmap.scan),
    unreadable,
  };
}
