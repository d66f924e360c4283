// The larger view of one archived scan: its instances in order (for slice scrolling over the
// DICOMweb rendered frames), and the stored, de-identified header of one of them. Access is
// decided by the caller (browse.scanView: collaborator, and the download rule, since it reads
// the stored files).
import { TRPCError } from "@trpc/server";
import type { PrismaClient } from "@/server/db/generated/client";
import { archiveBlobStore } from "@/lib/blob";
import { BufferSource, FileSource, type ByteSource } from "@/lib/dicom/source";
import { headerRows } from "@/lib/dicom/header-view";
import { transferSyntaxName } from "@/lib/dicom/sop-classes";

export async function scanView(prisma: PrismaClient, projectId: string, scanId: string, index: number) {
  const scan = await prisma.archiveScan.findFirst({
    where: { id: scanId, experiment: { projectId } },
    select: {
      id: true, seriesInstanceUid: true, seriesNumber: true, modality: true, seriesDescription: true,
      experiment: { select: { id: true, label: true, studyInstanceUid: true, subject: { select: { label: true } } } },
      instances: {
        select: { sopInstanceUid: true, instanceNumber: true, numberOfFrames: true, rows: true, transferSyntaxUid: true, blobKey: true },
        orderBy: [{ instanceNumber: { sort: "asc", nulls: "last" } }, { sopInstanceUid: "asc" }],
      },
    },
  });
  if (!scan) throw new TRPCError({ code: "NOT_FOUND", message: `Project "${projectId}" has no such scan in its local archive. Reload the list: it may have been removed.` });
  const picked = scan.instances[Math.min(Math.max(0, index), scan.instances.length - 1)];
  let header: ReturnType<typeof headerRows> | null = null;
  if (picked) {
    const store = archiveBlobStore();
    const local = store.localPath(picked.blobKey);
    let source: ByteSource | undefined;
    try {
      source = local ? new FileSource(local) : new BufferSource(await store.read(picked.blobKey));
      header = headerRows(source);
    } catch {
      header = { error: "The stored file is missing from the archive." };
    } finally {
      source?.close?.();
    }
  }
  return {
    scan: {
      id: scan.id, seriesInstanceUid: scan.seriesInstanceUid, seriesNumber: scan.seriesNumber, modality: scan.modality, description: scan.seriesDescription,
      experimentId: scan.experiment.id, experimentLabel: scan.experiment.label, studyInstanceUid: scan.experiment.studyInstanceUid, subject: scan.experiment.subject.label,
    },
    /** Every instance in order: what the slider scrolls through (frames of a multi-frame instance too). */
    instances: scan.instances.map((i) => ({ sopInstanceUid: i.sopInstanceUid, instanceNumber: i.instanceNumber, frames: i.numberOfFrames ?? 1, hasPixels: (i.rows ?? 0) > 0, syntax: transferSyntaxName(i.transferSyntaxUid) ?? i.transferSyntaxUid })),
    /** The stored (de-identified) header of the instance at `index`. */
    header,
  };
}
