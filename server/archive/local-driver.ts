// The built-in local archive as an ArchiveDriver (kind "local"): send copies each de-identified
// file into the blob store under <project>/<study UID>/<series UID>/<SOP UID>.dcm (all UIDs
// de-identified) and indexes it in PostgreSQL (subject → experiment → scan → instance); verify
// compares the study's expected counts and bytes with the index and with the blobs themselves.
//
// Idempotent: a resend (after a crash) or a re-archive with more instances merges into the same
// subject/experiment/scans, overwrites each instance's blob atomically, and recomputes the counts
// and sizes from the instance rows, so they are right whatever was sent before.
import { readFile, stat } from "node:fs/promises";
import type { PrismaClient } from "@/server/db/generated/client";
import type { ArchiveDriver, ArchiveInstanceFile, ArchiveProgress, ArchiveStudy, ArchiveVerification } from "@/lib/archive/driver";
import { expectedCounts } from "@/lib/archive/driver";
import { indexGeometry, indexHeaderOf, readIndexHeader, type IndexHeader } from "@/lib/archive/index-header";
import { archiveBlobStore, type BlobStore } from "@/lib/blob";
import { parseDicom } from "@/lib/dicom/parse";
import { BufferSource, WHOLE_FILE_LIMIT } from "@/lib/dicom/source";
import { childLog } from "@/lib/log";

const log = childLog("archive-local");

const UID = /^[0-9]+(\.[0-9]+)*$/;
/** Files copied at once (fsync latency overlaps). */
const COPY_CONCURRENCY = 4;

export class LocalArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LocalArchiveError";
  }
}

/** The blob key of an instance: <project>/<study UID>/<series UID>/<SOP UID>.dcm (de-identified UIDs only). */
export function localBlobKey(projectId: string, studyUid: string, seriesUid: string, sopUid: string): string {
  for (const [what, uid] of [
    ["Study Instance UID", studyUid],
    ["Series Instance UID", seriesUid],
    ["SOP Instance UID", sopUid],
  ] as const) {
    if (uid.length > 64 || !UID.test(uid)) throw new LocalArchiveError(`The ${what} is not a valid UID (digits and dots, at most 64 characters); the instance cannot be archived.`);
  }
  return `${projectId}/${studyUid}/${seriesUid}/${sopUid}.dcm`;
}

interface Stored {
  file: ArchiveInstanceFile;
  header: IndexHeader;
  blobKey: string;
  size: number;
  sha256: string;
}

async function copyOne(store: BlobStore, study: ArchiveStudy, file: ArchiveInstanceFile): Promise<Stored> {
  const where = `instance ${file.instanceId} of study ${study.studyId}`;
  let size: number;
  try {
    size = (await stat(file.path)).size;
  } catch {
    throw new LocalArchiveError(`The de-identified file of ${where} is missing; re-run de-identification for the study, then archive it again.`);
  }
  let header: IndexHeader;
  let put: { size: number; sha256: string };
  const key = localBlobKey(study.projectId, study.studyInstanceUid, file.seriesInstanceUid, file.sopInstanceUid);
  try {
    if (size <= WHOLE_FILE_LIMIT) {
      const bytes = await readFile(file.path);
      const parsed = parseDicom(new BufferSource(bytes));
      header = indexHeaderOf(parsed.dataset, parsed.meta, parsed.syntax.transferSyntaxUID, parsed.syntax.littleEndian);
      checkUids(header, study, file, where);
      put = await store.put(key, bytes);
    } else {
      header = readIndexHeader(file.path);
      checkUids(header, study, file, where);
      put = await store.putFile(key, file.path);
    }
  } catch (e) {
    if (e instanceof LocalArchiveError) throw e;
    if ((e as { name?: string }).name === "DicomParseError") {
      throw new LocalArchiveError(`The de-identified file of ${where} cannot be read as DICOM (${(e as { code?: string }).code}); re-run de-identification for the study.`);
    }
    throw e;
  }
  return { file, header, blobKey: key, size: put.size, sha256: put.sha256 };
}

function checkUids(h: IndexHeader, study: ArchiveStudy, file: ArchiveInstanceFile, where: string): void {
  if (h.sopInstanceUid !== file.sopInstanceUid || h.seriesInstanceUid !== file.seriesInstanceUid || h.studyInstanceUid !== study.studyInstanceUid) {
    throw new LocalArchiveError(`The UIDs in the file of ${where} differ from the ones recorded for it at de-identification; re-run de-identification for the study.`);
  }
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}

/** Picks a value for the study row: the first non-null among the instances (they agree after de-identification). */
function firstOf<K extends keyof IndexHeader["study"]>(stored: Stored[], k: K): IndexHeader["study"][K] {
  for (const s of stored) if (s.header.study[k] !== null) return s.header.study[k];
  return null;
}

export function createLocalArchiveDriver(prisma: PrismaClient, blobStore?: BlobStore): ArchiveDriver {
  const store = () => blobStore ?? archiveBlobStore();

  async function index(study: ArchiveStudy, stored: Stored[]): Promise<void> {
    const { projectId } = study;
    const studyFields = {
      studyDate: firstOf(stored, "studyDate"),
      studyTime: firstOf(stored, "studyTime"),
      studyDescription: firstOf(stored, "studyDescription"),
      accessionNumber: firstOf(stored, "accessionNumber"),
      patientName: firstOf(stored, "patientName"),
      patientId: firstOf(stored, "patientId"),
      patientBirthDate: firstOf(stored, "patientBirthDate"),
      patientSex: firstOf(stored, "patientSex"),
      dicomStudyId: firstOf(stored, "dicomStudyId"),
      referringPhysicianName: firstOf(stored, "referringPhysicianName"),
    };
    const bySeries = new Map<string, Stored[]>();
    for (const s of stored) {
      const list = bySeries.get(s.file.seriesInstanceUid);
      if (list) list.push(s);
      else bySeries.set(s.file.seriesInstanceUid, [s]);
    }
    const movedBlobs: string[] = [];
    await prisma.$transaction(
      async (tx) => {
        const subject = await tx.archiveSubject.upsert({
          where: { projectId_label: { projectId, label: study.subjectLabel } },
          create: { projectId, label: study.subjectLabel },
          update: {},
        });
        // A study's header values are only overwritten by values that exist (a resend of a subset keeps the rest).
        const present = Object.fromEntries(Object.entries(studyFields).filter(([, v]) => v !== null));
        const experiment = await tx.archiveExperiment.upsert({
          where: { projectId_studyInstanceUid: { projectId, studyInstanceUid: study.studyInstanceUid } },
          create: { projectId, subjectId: subject.id, label: study.experimentLabel, studyInstanceUid: study.studyInstanceUid, intakeStudyId: study.studyId || null, ...studyFields, modalities: [] },
          // An export of derived objects (task results as SR/SEG) has no intake study: keep the one recorded.
          update: { subjectId: subject.id, ...(study.studyId ? { intakeStudyId: study.studyId } : {}), ...present },
        });
        // Scans: create the missing ones in one statement, then read them all back.
        const seriesRows = [...bySeries].map(([seriesUid, items]) => {
          const h = items.find((i) => i.header.series.modality !== null)?.header.series ?? items[0]!.header.series;
          return {
            seriesInstanceUid: seriesUid,
            modality: h.modality,
            seriesNumber: h.seriesNumber,
            seriesDescription: h.seriesDescription,
            seriesDate: h.seriesDate,
            seriesTime: h.seriesTime,
          };
        });
        await tx.archiveScan.createMany({ data: seriesRows.map((r) => ({ experimentId: experiment.id, ...r })), skipDuplicates: true });
        const scans = await tx.archiveScan.findMany({
          where: { experimentId: experiment.id, seriesInstanceUid: { in: [...bySeries.keys()] } },
          select: { id: true, seriesInstanceUid: true, modality: true, seriesNumber: true, seriesDescription: true, seriesDate: true, seriesTime: true },
        });
        const scanOf = new Map(scans.map((sc) => [sc.seriesInstanceUid, sc]));
        for (const r of seriesRows) {
          const sc = scanOf.get(r.seriesInstanceUid)!;
          // Header values of a series are only overwritten by values that exist.
          const changed = Object.fromEntries(Object.entries(r).filter(([k, v]) => k !== "seriesInstanceUid" && v !== null && v !== sc[k as keyof typeof sc]));
          if (Object.keys(changed).length) await tx.archiveScan.update({ where: { id: sc.id }, data: changed });
        }
        // Instances already indexed anywhere in the study: same series → updated when changed;
        // another series (the instance moved) → removed from the old scan.
        const existing = await tx.archiveInstance.findMany({
          where: { sopInstanceUid: { in: stored.map((s) => s.file.sopInstanceUid) }, scan: { experimentId: experiment.id } },
          select: { id: true, scanId: true, sopInstanceUid: true, sha256: true, sizeBytes: true, blobKey: true },
        });
        const row = (s: Stored) => ({
          sopClassUid: s.header.sopClassUid ?? "",
          transferSyntaxUid: s.header.transferSyntaxUid,
          instanceNumber: s.header.instance.instanceNumber,
          rows: s.header.instance.rows,
          columns: s.header.instance.columns,
          numberOfFrames: s.header.instance.numberOfFrames,
          bitsAllocated: s.header.instance.bitsAllocated,
          geometry: indexGeometry(s.header.instance),
          blobKey: s.blobKey,
          sizeBytes: BigInt(s.size),
          sha256: s.sha256,
        });
        const bySop = new Map(stored.map((s) => [s.file.sopInstanceUid, s]));
        const inPlace = new Map<string, (typeof existing)[number]>();
        const moved: typeof existing = [];
        for (const e of existing) {
          if (e.scanId === scanOf.get(bySop.get(e.sopInstanceUid)!.file.seriesInstanceUid)!.id) inPlace.set(e.sopInstanceUid, e);
          else moved.push(e);
        }
        if (moved.length) {
          await tx.archiveInstance.deleteMany({ where: { id: { in: moved.map((m) => m.id) } } });
          movedBlobs.push(...moved.map((m) => m.blobKey));
        }
        const fresh = stored.filter((s) => !inPlace.has(s.file.sopInstanceUid));
        if (fresh.length) {
          await tx.archiveInstance.createMany({
            data: fresh.map((s) => ({ scanId: scanOf.get(s.file.seriesInstanceUid)!.id, sopInstanceUid: s.file.sopInstanceUid, ...row(s) })),
            skipDuplicates: true,
          });
        }
        for (const s of stored) {
          const old = inPlace.get(s.file.sopInstanceUid);
          if (old && (old.sha256 !== s.sha256 || old.sizeBytes !== BigInt(s.size) || old.blobKey !== s.blobKey)) {
            await tx.archiveInstance.update({ where: { id: old.id }, data: row(s) });
          }
        }
        // Counts, sizes and modalities from the rows themselves.
        await tx.$executeRaw`
          UPDATE "ArchiveScan" s SET "instanceCount" = a.n, "sizeBytes" = a.bytes
          FROM (SELECT sc.id, COUNT(i.id)::int AS n, COALESCE(SUM(i."sizeBytes"), 0)::bigint AS bytes
                FROM "ArchiveScan" sc LEFT JOIN "ArchiveInstance" i ON i."scanId" = sc.id
                WHERE sc."experimentId" = ${experiment.id} GROUP BY sc.id) a
          WHERE s.id = a.id`;
        await tx.archiveScan.deleteMany({ where: { experimentId: experiment.id, instanceCount: 0 } });
        await tx.$executeRaw`
          UPDATE "ArchiveExperiment" e SET
            "instanceCount" = COALESCE((SELECT SUM(s."instanceCount") FROM "ArchiveScan" s WHERE s."experimentId" = e.id), 0)::int,
            "sizeBytes" = COALESCE((SELECT SUM(s."sizeBytes") FROM "ArchiveScan" s WHERE s."experimentId" = e.id), 0)::bigint,
            "modalities" = COALESCE((SELECT array_agg(DISTINCT s.modality ORDER BY s.modality) FROM "ArchiveScan" s WHERE s."experimentId" = e.id AND s.modality IS NOT NULL), ARRAY[]::text[]),
            "updatedAt" = now()
          WHERE e.id = ${experiment.id}`;
      },
      { timeout: 120_000, maxWait: 30_000 },
    );
    const keep = new Set(stored.map((s) => s.blobKey));
    for (const k of movedBlobs) if (!keep.has(k)) await store().delete(k).catch(() => undefined);
  }

  return {
    kind: "local",
    async send(study: ArchiveStudy, onProgress?: (p: ArchiveProgress) => void) {
      const totalBytes = study.instances.reduce((n, i) => n + i.sizeBytes, 0);
      let doneBytes = 0;
      onProgress?.({ phase: "sending", doneBytes, totalBytes });
      const stored = await mapLimit(study.instances, COPY_CONCURRENCY, async (file) => {
        const s = await copyOne(store(), study, file);
        doneBytes += file.sizeBytes;
        onProgress?.({ phase: "sending", doneBytes, totalBytes });
        return s;
      });
      if (stored.length) await index(study, stored);
      log.info({ studyId: study.studyId, projectId: study.projectId, instances: stored.length, bytes: totalBytes }, "study stored in the local archive");
      return { location: "local" };
    },

    async verify(study: ArchiveStudy): Promise<ArchiveVerification> {
      const expected = expectedCounts(study);
      const experiment = await prisma.archiveExperiment.findUnique({
        where: { projectId_studyInstanceUid: { projectId: study.projectId, studyInstanceUid: study.studyInstanceUid } },
        select: { id: true },
      });
      if (!experiment) {
        return { ok: false, expected, found: { scans: 0, files: 0, bytes: 0 }, detail: "The study is not in the local archive's index; send it again." };
      }
      const wanted = new Map(study.instances.map((i) => [i.sopInstanceUid, i]));
      const rows = await prisma.archiveInstance.findMany({
        where: { scan: { experimentId: experiment.id }, sopInstanceUid: { in: [...wanted.keys()] } },
        select: { sopInstanceUid: true, sizeBytes: true, blobKey: true, scan: { select: { seriesInstanceUid: true } } },
      });
      const problems: string[] = [];
      const scans = new Set<string>();
      let files = 0;
      let bytes = 0;
      let missingBlobs = 0;
      let sizeMismatch = 0;
      let wrongSeries = 0;
      const stats = await mapLimit(rows, 16, async (r) => ({ r, s: await store().stat(r.blobKey) }));
      for (const { r, s } of stats) {
        const want = wanted.get(r.sopInstanceUid)!;
        if (r.scan.seriesInstanceUid !== want.seriesInstanceUid) {
          wrongSeries++;
          continue;
        }
        if (!s) {
          missingBlobs++;
          continue;
        }
        if (s.size !== Number(r.sizeBytes) || s.size !== want.sizeBytes) {
          sizeMismatch++;
          continue;
        }
        scans.add(r.scan.seriesInstanceUid);
        files++;
        bytes += s.size;
      }
      const notIndexed = study.instances.length - rows.length;
      if (notIndexed > 0) problems.push(`${notIndexed} instance(s) are not in the index`);
      if (missingBlobs) problems.push(`${missingBlobs} indexed instance(s) have no stored file`);
      if (sizeMismatch) problems.push(`${sizeMismatch} stored file(s) differ in size from the de-identified file`);
      if (wrongSeries) problems.push(`${wrongSeries} instance(s) are indexed under another series`);
      const found = { scans: scans.size, files, bytes };
      const ok = problems.length === 0 && found.scans === expected.scans && found.files === expected.files && found.bytes === expected.bytes;
      if (!ok && problems.length === 0) problems.push(`expected ${expected.scans} scans, ${expected.files} files, ${expected.bytes} bytes; found ${found.scans}, ${found.files}, ${found.bytes}`);
      return ok ? { ok, expected, found } : { ok, expected, found, detail: `${problems.join("; ")}. Archive the study again.` };
    },
  };
}
