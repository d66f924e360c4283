// Seeds the local archive index directly (subjects → experiments → scans → instances) and writes
// each instance's bytes into the archive's blob store (lib/blob, <data dir>/archive) under its blobKey.
import { createHash, randomBytes } from "node:crypto";
import { createDirBlobStore } from "@/lib/blob";
import { indexGeometry, readIndexHeader } from "@/lib/archive/index-header";
import { BufferSource } from "@/lib/dicom/source";
import path from "node:path";
import type { PrismaClient } from "@/server/db/generated/client";

export interface SeedScan {
  seriesNumber: number | null;
  modality: string;
  description?: string;
  /** Sizes of the instances, in bytes (random content), or buffers to store as they are. */
  instances: Array<number | Buffer>;
}
export interface SeedExperiment {
  label: string;
  studyDate?: string;
  description?: string;
  intakeStudyId?: string;
  scans: SeedScan[];
}
export interface SeededScan {
  id: string;
  seriesInstanceUid: string;
  files: { key: string; bytes: Buffer; instanceNumber: number }[];
}
export interface SeededExperiment {
  id: string;
  label: string;
  studyInstanceUid: string;
  scans: SeededScan[];
}

let uid = 0;
const nextUid = () => `2.25.${Date.now()}${process.pid}${++uid}`;

/** The archive's directory store in a data directory (as archiveBlobStore() has it). */
export function blobStoreIn(dataDir: string) {
  return createDirBlobStore({ root: path.join(dataDir, "archive") });
}

export async function seedSubject(
  prisma: PrismaClient,
  dataDir: string,
  projectId: string,
  subjectLabel: string,
  experiments: SeedExperiment[],
): Promise<SeededExperiment[]> {
  const subject = await prisma.archiveSubject.upsert({
    where: { projectId_label: { projectId, label: subjectLabel } },
    create: { projectId, label: subjectLabel },
    update: {},
  });
  const out: SeededExperiment[] = [];
  for (const e of experiments) {
    const studyInstanceUid = nextUid();
    const allSizes = e.scans.flatMap((s) => s.instances.map((i) => (typeof i === "number" ? i : i.length)));
    const exp = await prisma.archiveExperiment.create({
      data: {
        projectId,
        subjectId: subject.id,
        label: e.label,
        studyInstanceUid,
        intakeStudyId: e.intakeStudyId ?? null,
        studyDate: e.studyDate ?? null,
        studyDescription: e.description ?? null,
        modalities: [...new Set(e.scans.map((s) => s.modality))].sort(),
        instanceCount: allSizes.length,
        sizeBytes: BigInt(allSizes.reduce((a, b) => a + b, 0)),
      },
    });
    const scans: SeededScan[] = [];
    for (const s of e.scans) {
      const seriesInstanceUid = nextUid();
      const bufs = s.instances.map((i) => (typeof i === "number" ? randomBytes(i) : i));
      const scan = await prisma.archiveScan.create({
        data: {
          experimentId: exp.id,
          seriesInstanceUid,
          seriesNumber: s.seriesNumber,
          modality: s.modality,
          seriesDescription: s.description ?? null,
          instanceCount: bufs.length,
          sizeBytes: BigInt(bufs.reduce((a, b) => a + b.length, 0)),
        },
      });
      const files: SeededScan["files"] = [];
      for (const [n, bytes] of bufs.entries()) {
        const sha256 = createHash("sha256").update(bytes).digest("hex");
        const sopInstanceUid = nextUid();
        // The local driver's layout: <project>/<study>/<series>/<sop>.dcm
        const key = `${projectId}/${studyInstanceUid}/${seriesInstanceUid}/${sopInstanceUid}.dcm`;
        await blobStoreIn(dataDir).put(key, bytes);
        // A real DICOM file (a Buffer given): index its syntax and image size, as the local driver does.
        const header = typeof s.instances[n] === "number" ? null : readIndexHeader(new BufferSource(bytes));
        await prisma.archiveInstance.create({
          data: {
            scanId: scan.id,
            sopInstanceUid,
            sopClassUid: header?.sopClassUid ?? "1.2.840.10008.5.1.4.1.1.4",
            transferSyntaxUid: header?.transferSyntaxUid ?? "1.2.840.10008.1.2.1",
            rows: header?.instance.rows ?? null,
            columns: header?.instance.columns ?? null,
            numberOfFrames: header?.instance.numberOfFrames ?? null,
            bitsAllocated: header?.instance.bitsAllocated ?? null,
            ...(header ? { geometry: indexGeometry(header.instance) } : {}),
            instanceNumber: n + 1,
            blobKey: key,
            sizeBytes: BigInt(bytes.length),
            sha256,
          },
        });
        files.push({ key, bytes, instanceNumber: n + 1 });
      }
      scans.push({ id: scan.id, seriesInstanceUid, files });
    }
    out.push({ id: exp.id, label: e.label, studyInstanceUid, scans });
  }
  return out;
}

/** Every entry of a zip (read with yauzl, CRCs checked): name → bytes, in the zip's order. */
export async function unzip(zip: Buffer): Promise<Map<string, Buffer>> {
  const yauzl = (await import("yauzl")).default;
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true, validateEntrySizes: true }, (err, zf) => {
      if (err) return reject(err);
      const out = new Map<string, Buffer>();
      zf.on("error", reject);
      zf.on("end", () => resolve(out));
      zf.on("entry", (entry: import("yauzl").Entry) => {
        zf.openReadStream(entry, (e2, rs) => {
          if (e2) return reject(e2);
          const chunks: Buffer[] = [];
          rs.on("data", (c: Buffer) => chunks.push(c));
          rs.on("error", reject);
          rs.on("end", () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            zf.readEntry();
          });
        });
      });
      zf.readEntry();
    });
  });
}
