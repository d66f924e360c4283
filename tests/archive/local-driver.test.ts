// The local archive driver against the real PostgreSQL and a directory blob store: send copies and
// indexes, resends and re-archives merge (never duplicate), counts and sizes stay right, verify
// notices what is missing or altered.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import dcmjs from "dcmjs";
import { createTestDatabase } from "../helpers/pg";
import { createDirBlobStore } from "@/lib/blob";
import { readIndexHeader } from "@/lib/archive/index-header";
import { BufferSource } from "@/lib/dicom/source";
import { experimentLabel, type ArchiveStudy, type ArchiveProgress } from "@/lib/archive/driver";
import { SAMPLES_DIR } from "@/lib/samples";
import { createLocalArchiveDriver, LocalArchiveError } from "@/server/archive/local-driver";

const work = mkdtempSync(path.join(os.tmpdir(), "atrium-local-driver-"));
const blobRoot = path.join(work, "archive");
const store = createDirBlobStore({ root: blobRoot });
let db: Awaited<ReturnType<typeof createTestDatabase>>;

const MR_STUDY = ["53323131", "53323275", "53323419", "53323563", "53323707", "53323851"].map((n) => `dwv__bbmri-${n}.dcm`);

function studyOf(files: string[], over: Partial<ArchiveStudy> = {}): ArchiveStudy {
  const instances = files.map((f, i) => {
    const h = readIndexHeader(f);
    return { instanceId: `ri_${i}_${path.basename(f)}`, path: f, sizeBytes: statSync(f).size, seriesInstanceUid: h.seriesInstanceUid!, sopInstanceUid: h.sopInstanceUid! };
  });
  const studyUid = readIndexHeader(files[0]!).studyInstanceUid!;
  return {
    studyId: "study_1",
    projectId: "LOCAL",
    studyInstanceUid: studyUid,
    subjectLabel: "SUBJ_0001",
    experimentLabel: experimentLabel("SUBJ_0001", studyUid),
    instances,
    ...over,
  };
}

/** Copies of the samples in a writable place (tests alter some). */
function copies(names: string[]): string[] {
  const dir = mkdtempSync(path.join(work, "in-"));
  return names.map((n) => {
    const dst = path.join(dir, n);
    copyFileSync(path.join(SAMPLES_DIR, n), dst);
    chmodSync(dst, 0o644);
    return dst;
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: "LOCAL", idLower: "local", name: "Local archive" } });
});
afterAll(async () => {
  await db?.drop();
  rmSync(work, { recursive: true, force: true });
});

describe("local archive driver", () => {
  it("sends a study: every file is copied under project/study/series/sop and indexed with its header fields", async () => {
    const files = copies(MR_STUDY);
    const study = studyOf(files);
    const driver = createLocalArchiveDriver(db.prisma, store);
    expect(driver.kind).toBe("local");
    const progress: ArchiveProgress[] = [];
    const res = await driver.send(study, (p) => progress.push(p));
    expect(res).toEqual({ location: "local" });
    const total = study.instances.reduce((n, i) => n + i.sizeBytes, 0);
    expect(progress.at(-1)).toEqual({ phase: "sending", doneBytes: total, totalBytes: total });

    const exp = await db.prisma.archiveExperiment.findUniqueOrThrow({
      where: { projectId_studyInstanceUid: { projectId: "LOCAL", studyInstanceUid: study.studyInstanceUid } },
      include: { subject: true, scans: { include: { instances: true } } },
    });
    expect(exp.subject.label).toBe("SUBJ_0001");
    expect(exp.label).toBe(study.experimentLabel);
    expect(exp.intakeStudyId).toBe("study_1");
    expect(exp.instanceCount).toBe(6);
    expect(Number(exp.sizeBytes)).toBe(total);
    expect(exp.modalities).toEqual(["MR"]);
    const h = readIndexHeader(files[0]!);
    expect(exp.studyDate).toBe(h.study.studyDate);
    expect(exp.patientId).toBe(h.study.patientId);
    const instances = exp.scans.flatMap((s) => s.instances);
    expect(instances).toHaveLength(6);
    for (const inst of instances) {
      const file = study.instances.find((i) => i.sopInstanceUid === inst.sopInstanceUid)!;
      const bytes = readFileSync(file.path);
      expect(inst.blobKey).toBe(`LOCAL/${study.studyInstanceUid}/${file.seriesInstanceUid}/${file.sopInstanceUid}.dcm`);
      expect(inst.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
      expect(Number(inst.sizeBytes)).toBe(bytes.length);
      expect(inst.transferSyntaxUid).toBe("1.2.840.10008.1.2.1");
      expect(inst.sopClassUid).toBe("1.2.840.10008.5.1.4.1.1.4");
      expect(inst.rows).toBeGreaterThan(0);
      // Image Position / Orientation (Patient) as dcmjs reads them: what the viewer's first image is chosen by.
      const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)).dict) as { ImagePositionPatient: unknown[]; ImageOrientationPatient: unknown[] };
      expect(inst.geometry).toEqual({ position: ds.ImagePositionPatient.map(Number), orientation: ds.ImageOrientationPatient.map(Number) });
      expect((await store.read(inst.blobKey)).equals(bytes)).toBe(true);
    }
    for (const scan of exp.scans) {
      expect(scan.instanceCount).toBe(scan.instances.length);
      expect(Number(scan.sizeBytes)).toBe(scan.instances.reduce((n, i) => n + Number(i.sizeBytes), 0));
      expect(scan.modality).toBe("MR");
    }
    const v = await driver.verify(study);
    expect(v).toEqual({ ok: true, expected: { scans: exp.scans.length, files: 6, bytes: total }, found: { scans: exp.scans.length, files: 6, bytes: total } });
  });

  it("a resend changes nothing; a first send of part of a study then the whole merges into one experiment", async () => {
    const files = copies(MR_STUDY);
    const full = studyOf(files, { projectId: "LOCAL", studyId: "study_2", subjectLabel: "SUBJ_0002" });
    // a different study UID space: same samples, other project
    await db.prisma.project.create({ data: { id: "MERGE", idLower: "merge", name: "Merge" } });
    const study = { ...full, projectId: "MERGE" };
    const driver = createLocalArchiveDriver(db.prisma, store);
    await driver.send({ ...study, instances: study.instances.slice(0, 2) });
    let exp = await db.prisma.archiveExperiment.findFirstOrThrow({ where: { projectId: "MERGE" } });
    expect(exp.instanceCount).toBe(2);
    expect((await driver.verify(study)).ok).toBe(false);
    await driver.send(study);
    await driver.send(study);
    await Promise.all([driver.send(study), driver.send({ ...study, instances: study.instances.slice(3) })]);
    expect(await db.prisma.archiveExperiment.count({ where: { projectId: "MERGE" } })).toBe(1);
    expect(await db.prisma.archiveSubject.count({ where: { projectId: "MERGE" } })).toBe(1);
    exp = await db.prisma.archiveExperiment.findFirstOrThrow({ where: { projectId: "MERGE" } });
    expect(exp.instanceCount).toBe(6);
    expect(Number(exp.sizeBytes)).toBe(study.instances.reduce((n, i) => n + i.sizeBytes, 0));
    expect(await db.prisma.archiveInstance.count({ where: { scan: { experiment: { projectId: "MERGE" } } } })).toBe(6);
    expect((await driver.verify(study)).ok).toBe(true);
    const keys: string[] = [];
    for await (const s of store.list("MERGE/")) keys.push(s.key);
    expect(keys).toHaveLength(6);
  });

  it("a re-archived instance whose file changed replaces the stored one and its size", async () => {
    const files = copies([MR_STUDY[0]!]);
    await db.prisma.project.create({ data: { id: "CHANGE", idLower: "change", name: "Change" } });
    const driver = createLocalArchiveDriver(db.prisma, store);
    const first = studyOf(files, { projectId: "CHANGE" });
    await driver.send(first);
    // append trailing padding (FFFC,FFFC) so the file is still DICOM with another size
    const pad = Buffer.alloc(12 + 100);
    pad.writeUInt16LE(0xfffc, 0);
    pad.writeUInt16LE(0xfffc, 2);
    pad.write("OB", 4, "latin1");
    pad.writeUInt32LE(100, 8);
    writeFileSync(files[0]!, Buffer.concat([readFileSync(files[0]!), pad]));
    const second = studyOf(files, { projectId: "CHANGE" });
    expect(second.instances[0]!.sizeBytes).toBe(first.instances[0]!.sizeBytes + 112);
    await driver.send(second);
    const inst = await db.prisma.archiveInstance.findFirstOrThrow({ where: { scan: { experiment: { projectId: "CHANGE" } } } });
    expect(Number(inst.sizeBytes)).toBe(second.instances[0]!.sizeBytes);
    const exp = await db.prisma.archiveExperiment.findFirstOrThrow({ where: { projectId: "CHANGE" } });
    expect(Number(exp.sizeBytes)).toBe(second.instances[0]!.sizeBytes);
    expect((await driver.verify(second)).ok).toBe(true);
    expect((await driver.verify(first)).ok).toBe(false);
  });

  it("verify says what is missing: a deleted blob, a truncated blob, an instance never sent", async () => {
    const files = copies(MR_STUDY.slice(0, 3));
    await db.prisma.project.create({ data: { id: "VERIFY", idLower: "verify", name: "Verify" } });
    const driver = createLocalArchiveDriver(db.prisma, store);
    const study = studyOf(files, { projectId: "VERIFY" });
    await driver.send(study);
    expect((await driver.verify(study)).ok).toBe(true);
    const rows = await db.prisma.archiveInstance.findMany({ where: { scan: { experiment: { projectId: "VERIFY" } } }, orderBy: { sopInstanceUid: "asc" } });
    await store.delete(rows[0]!.blobKey);
    await store.put(rows[1]!.blobKey, Buffer.from("truncated"));
    const v = await driver.verify(study);
    expect(v.ok).toBe(false);
    expect(v.found.files).toBe(1);
    expect(v.detail).toMatch(/1 indexed instance\(s\) have no stored file/);
    expect(v.detail).toMatch(/1 stored file\(s\) differ in size/);
    expect(v.detail).not.toMatch(/\d+\.\d+\.\d+/); // no UIDs in what the status page shows
    const more = studyOf([...files, ...copies([MR_STUDY[4]!])], { projectId: "VERIFY" });
    const v2 = await driver.verify(more);
    expect(v2.detail).toMatch(/1 instance\(s\) are not in the index/);
    // sending again repairs it
    await driver.send(more);
    expect((await driver.verify(more)).ok).toBe(true);
  });

  it("verify of a study never sent fails with a reason", async () => {
    const driver = createLocalArchiveDriver(db.prisma, store);
    const study = studyOf(copies([MR_STUDY[0]!]), { projectId: "LOCAL", studyInstanceUid: "1.2.3.4.5.999" });
    const v = await driver.verify(study);
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(/not in the local archive's index/);
  });

  it("an instance that moved to another series leaves its old scan (no duplicate, empty scan removed)", async () => {
    const files = copies(MR_STUDY.slice(0, 2));
    await db.prisma.project.create({ data: { id: "MOVE", idLower: "move", name: "Move" } });
    const driver = createLocalArchiveDriver(db.prisma, store);
    const study = studyOf(files, { projectId: "MOVE" });
    await driver.send(study);
    const scansBefore = await db.prisma.archiveScan.count({ where: { experiment: { projectId: "MOVE" } } });
    // simulate an older index row under another series for the first instance
    const exp = await db.prisma.archiveExperiment.findFirstOrThrow({ where: { projectId: "MOVE" } });
    const other = await db.prisma.archiveScan.create({ data: { experimentId: exp.id, seriesInstanceUid: "1.2.3.999", instanceCount: 1 } });
    const inst = await db.prisma.archiveInstance.findFirstOrThrow({ where: { sopInstanceUid: study.instances[0]!.sopInstanceUid, scan: { experimentId: exp.id } } });
    await db.prisma.archiveInstance.update({ where: { id: inst.id }, data: { scanId: other.id } });
    await driver.send(study);
    expect(await db.prisma.archiveInstance.count({ where: { scan: { experimentId: exp.id } } })).toBe(2);
    expect(await db.prisma.archiveScan.count({ where: { experimentId: exp.id } })).toBe(scansBefore);
    expect((await driver.verify(study)).ok).toBe(true);
  });

  it("refuses a missing or non-DICOM file, or one whose UIDs differ from the record, naming the instance id only", async () => {
    const driver = createLocalArchiveDriver(db.prisma, store);
    const files = copies([MR_STUDY[0]!]);
    const study = studyOf(files, { projectId: "LOCAL" });
    await expect(driver.send({ ...study, instances: [{ ...study.instances[0]!, path: path.join(work, "nope.dcm") }] })).rejects.toThrow(/instance ri_0_.* is missing/);
    const junk = path.join(work, "junk.dcm");
    writeFileSync(junk, "not dicom at all, just text");
    await expect(driver.send({ ...study, instances: [{ ...study.instances[0]!, path: junk }] })).rejects.toBeInstanceOf(LocalArchiveError);
    await expect(driver.send({ ...study, instances: [{ ...study.instances[0]!, sopInstanceUid: "1.2.3.4" }] })).rejects.toThrow(/differ from the ones recorded/);
    await expect(driver.send({ ...study, instances: [{ ...study.instances[0]!, sopInstanceUid: "1.2.x" }] })).rejects.toThrow(/not a valid UID/);
  });
});

describe("index header geometry", () => {
  it("keeps Image Position / Orientation only when they are the right count of numbers", () => {
    const mr = readIndexHeader(path.join(SAMPLES_DIR, "dwv__bbmri-53323131.dcm")).instance;
    expect(mr.imagePosition).toHaveLength(3);
    expect(mr.imageOrientation).toHaveLength(6);
    // A structured report has neither.
    const sr = readIndexHeader(path.join(SAMPLES_DIR, "dicomParser__report_dfl.dcm")).instance;
    expect([sr.imagePosition, sr.imageOrientation]).toEqual([null, null]);
    // A position of two values, or one that is not a number, is not kept.
    const bytes = readFileSync(path.join(SAMPLES_DIR, "dwv__bbmri-53323131.dcm"));
    const ds = dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    ds.dict["00200032"] = { vr: "DS", Value: ["1.5", "abc", "3"] };
    ds.dict["00200037"] = { vr: "DS", Value: ["1", "0", "0", "0", "1"] };
    const broken = readIndexHeader(new BufferSource(Buffer.from(ds.write()))).instance;
    expect([broken.imagePosition, broken.imageOrientation]).toEqual([null, null]);
  });
});
