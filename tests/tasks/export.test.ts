// Issue #15 on real PostgreSQL and the local archive: a submitted task's length becomes a DICOM SR
// and its brush labelmap a DICOM SEG in the task's experiment (index rows, blobs, counts), readable
// back; a re-export replaces instead of doubling; a result that cannot be referenced records why;
// the History gives each version with what changed, to its reader and to owners only.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { createTestDatabase } from "../helpers/pg";
import { seedSubject, type SeededExperiment } from "../archive/seed";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { parseTemplateOrThrow } from "@/lib/tasks/parse";
import { toTaskAnnotations } from "@/lib/tasks/viewer-map";
import { readMeasurementReport } from "@/lib/tasks/sr";
import { readSegmentation, sliceValues } from "@/lib/tasks/seg";
import { sourceImageOf } from "@/lib/tasks/source-image";
import { archiveBlobStore } from "@/lib/blob";
import { encodeRuns, type Measurement } from "@/lib/viewer/viewer";
import { createGroup, reviewTask, saveTemplate, startNext, submit } from "@/server/tasks/ops";
import { exportTaskResult } from "@/server/tasks/export";
import { taskHistory } from "@/server/tasks/history";
import { taskView } from "@/server/tasks/views";
import { archivedResults } from "@/server/tasks/archived-results";

const dataDir = mkdtempSync(path.join(tmpdir(), "atrium-task-export-"));
process.env.ATRIUM_DATA_DIR = dataDir;
const SAMPLES = path.resolve(__dirname, "../../../shared/dicom-samples");
const P = "TEXPORT";
const TEMPLATE = DEMO_QC_TEMPLATE.replace(
  "      - { type: length, hotkey: l }",
  '      - { type: length, hotkey: l }\n      - { type: brush, labels: [{ name: Lesion, color: "#ff0000" }, { name: Oedema, color: "#00ff00" }] }',
);
const context = parseTemplateOrThrow(TEMPLATE).contexts[0]!;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let owner = "";
let reader = "";
let other = "";
let templateId = "";
let seeded: SeededExperiment[] = [];
const mr = ["dwv__bbmri-53323131.dcm", "dwv__bbmri-53323275.dcm"].map((f) => readFileSync(path.join(SAMPLES, f)));
const geometry = sourceImageOf(mr[0]!);
const size = geometry.rows * geometry.columns;

async function sopsOf(experimentId: string) {
  const rows = await db.prisma.archiveInstance.findMany({ where: { scan: { experimentId, modality: "MR" } }, orderBy: { instanceNumber: "asc" }, select: { sopInstanceUid: true } });
  return rows.map((r) => r.sopInstanceUid);
}

function lengthOn(sop: string, u: number, uid = "m-1"): Measurement {
  const o = geometry.imagePositionPatient!;
  const d = geometry.imageOrientationPatient!;
  const at = (a: number, b: number): [number, number, number] => [o[0] + a * d[0] + b * d[3], o[1] + a * d[1] + b * d[4], o[2] + a * d[2] + b * d[5]];
  return { uid, tool: "length", ref: { scan: "main", sopInstanceUid: sop, frameOfReferenceUid: geometry.frameOfReferenceUid! }, points: [at(10, 10), at(10 + u, 10)], label: "Lesion 1" };
}

async function group(label: string, experimentId: string, review: boolean) {
  return (await createGroup(db.prisma, P, owner, { label, templateId, experimentIds: [experimentId], readersPerCase: 1, distribution: "pool", pool: [], review })).groupId;
}

beforeAll(async () => {
  db = await createTestDatabase();
  owner = (await db.prisma.user.create({ data: { email: "owner@export.test" } })).id;
  reader = (await db.prisma.user.create({ data: { email: "reader@export.test", name: "Rea Der" } })).id;
  other = (await db.prisma.user.create({ data: { email: "other@export.test" } })).id;
  await db.prisma.project.create({
    data: { id: P, idLower: P.toLowerCase(), name: "Exports", members: { create: [{ userId: owner, role: "owner" }, { userId: reader, role: "member" }, { userId: other, role: "member" }] } },
  });
  templateId = (await saveTemplate(db.prisma, P, owner, "qc-with-brush", TEMPLATE)).templateId;
  seeded = await seedSubject(db.prisma, dataDir, P, "SUBJ-EXP", [
    { label: "SUBJ-EXP_A", scans: [{ seriesNumber: 1, modality: "MR", description: "t1 axial", instances: mr }] },
    { label: "SUBJ-EXP_B", scans: [{ seriesNumber: 1, modality: "MR", description: "t1 axial", instances: mr }] },
    { label: "SUBJ-EXP_C", scans: [{ seriesNumber: 1, modality: "MR", description: "t1 axial", instances: mr }] },
  ]);
});
afterAll(async () => {
  await db?.drop();
});

describe("task results to the archive", () => {
  it("a done task's length is an SR and its labelmap a SEG in the experiment, readable back", async () => {
    const exp = seeded[0]!;
    const groupId = await group("Export", exp.id, false);
    const [sopA, sopB] = await sopsOf(exp.id);
    const paintA = new Uint8Array(size);
    paintA.fill(1, 3000, 3050);
    paintA.fill(2, 9000, 9020);
    const paintB = new Uint8Array(size);
    paintB.fill(1, 4000, 4100);
    const annotations = toTaskAnnotations(context, {
      version: 1,
      measurements: [lengthOn(sopA!, 30)],
      labelmaps: [
        {
          scan: "main",
          slices: [
            { sopInstanceUid: sopA!, frame: 1, rows: geometry.rows, columns: geometry.columns, runs: encodeRuns(paintA) },
            { sopInstanceUid: sopB!, frame: 1, rows: geometry.rows, columns: geometry.columns, runs: encodeRuns(paintB) },
          ],
        },
      ],
    });
    const t = (await startNext(db.prisma, groupId, reader))!;
    expect(await submit(db.prisma, t.id, reader, { answers: { usable: "yes" }, annotations }, P)).toMatchObject({ version: 1, state: "done" });

    const result = await db.prisma.taskResult.findFirstOrThrow({ where: { taskId: t.id } });
    expect(result.exportError).toBeNull();
    const exports = result.exports as { kind: string; sopInstanceUid: string; seriesInstanceUid: string; items: number; location: string; leftOut: number }[];
    expect(exports.map((x) => [x.kind, x.items, x.location, x.leftOut])).toEqual([
      ["sr", 1, "local", 0],
      ["seg", 2, "local", 0],
    ]);

    const experiment = await db.prisma.archiveExperiment.findUniqueOrThrow({ where: { id: exp.id }, include: { scans: { include: { instances: true }, orderBy: { seriesNumber: "asc" } } } });
    expect(experiment.modalities).toEqual(["MR", "SEG", "SR"]);
    expect(experiment.instanceCount).toBe(4);
    expect(experiment.intakeStudyId).toBeNull();
    const [, srScan, segScan] = experiment.scans;
    expect(srScan).toMatchObject({ modality: "SR", seriesNumber: 9010, seriesInstanceUid: exports[0]!.seriesInstanceUid, instanceCount: 1 });
    expect(srScan!.seriesDescription).toMatch(new RegExp(`^Task #${(await db.prisma.task.findUniqueOrThrow({ where: { id: t.id } })).number} v1 measurements$`));
    expect(segScan).toMatchObject({ modality: "SEG", seriesNumber: 9011, instanceCount: 1 });

    const blob = (key: string) => archiveBlobStore().read(key);
    const report = readMeasurementReport(await blob(srScan!.instances[0]!.blobKey));
    expect(report).toHaveLength(1);
    expect(report[0]).toMatchObject({ tool: "length", label: "Lesion 1", sopInstanceUid: sopA, frameOfReferenceUid: geometry.frameOfReferenceUid });
    expect(report[0]!.values.Length!.value).toBeCloseTo(30, 3);

    const seg = readSegmentation(await blob(segScan!.instances[0]!.blobKey), "main");
    expect(seg.labels.map((l) => l.name)).toEqual(["Lesion", "Oedema"]);
    const bySop = new Map(seg.labelmap.slices.map((s) => [s.sopInstanceUid, sliceValues(s.runs, size)]));
    expect(bySop.get(sopA!)).toEqual(paintA);
    expect(bySop.get(sopB!)).toEqual(paintB);
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "task.export", targetId: t.id } })).toBe(1);

    // What the viewer reads back: the length on the MR series' image, the labelmap on the MR series.
    const mrSeries = exp.scans[0]!.seriesInstanceUid;
    const back = await archivedResults(db.prisma, P, exp.id);
    expect(back.unreadable).toBe(0);
    expect(back.reports).toHaveLength(1);
    expect(back.reports[0]!.measurements.map((m) => [m.tool, m.ref.scan, m.ref.sopInstanceUid, m.label])).toEqual([["length", mrSeries, sopA, "Lesion 1"]]);
    expect(back.segmentations.map((x) => [x.labelmap.scan, x.labels.map((l) => l.name), x.labelmap.slices.length])).toEqual([[mrSeries, ["Lesion", "Oedema"], 2]]);
    expect((await archivedResults(db.prisma, "ELSEWHERE", exp.id)).reports).toEqual([]);

    // Exported again (an owner's "Export again"): the same objects replaced, not doubled.
    const again = await exportTaskResult(db.prisma, t.id, { actorId: owner });
    expect(again.exports.map((x) => x.sopInstanceUid)).toEqual(exports.map((x) => x.sopInstanceUid));
    const after = await db.prisma.archiveExperiment.findUniqueOrThrow({ where: { id: exp.id } });
    expect(after.instanceCount).toBe(4);
    expect(await db.prisma.archiveScan.count({ where: { experimentId: exp.id } })).toBe(3);
  });

  it("a result whose measurements are on no archived image records why and writes nothing", async () => {
    const exp = seeded[1]!;
    const groupId = await group("Unreferenced", exp.id, false);
    const t = (await startNext(db.prisma, groupId, reader))!;
    const annotations = toTaskAnnotations(context, { version: 1, measurements: [lengthOn("2.25.424242", 12)], labelmaps: [] });
    await submit(db.prisma, t.id, reader, { answers: { usable: "yes" }, annotations }, P);
    const result = await db.prisma.taskResult.findFirstOrThrow({ where: { taskId: t.id } });
    expect(result.exportError).toMatch(/No measurement of this result is on an archived image/);
    expect(result.exports).toEqual([]);
    expect(await db.prisma.archiveScan.count({ where: { experimentId: exp.id } })).toBe(1);
  });

  it("History: each version with what changed from the one before, for its reader and owners only", async () => {
    const exp = seeded[2]!;
    const groupId = await group("Reviewed", exp.id, true);
    const [sop] = await sopsOf(exp.id);
    const t = (await startNext(db.prisma, groupId, reader))!;
    const v1 = toTaskAnnotations(context, { version: 1, measurements: [lengthOn(sop!, 20), lengthOn(sop!, 5, "m-2")], labelmaps: [] });
    await submit(db.prisma, t.id, reader, { answers: { usable: "no", reason: ["motion"] }, annotations: v1 }, P);
    await reviewTask(db.prisma, t.id, owner, "returned", "Measure the whole lesion.", P);
    expect((await startNext(db.prisma, groupId, reader))!.id).toBe(t.id);
    const moved = { ...lengthOn(sop!, 26), label: "Lesion A" };
    const v2 = toTaskAnnotations(context, { version: 1, measurements: [moved, lengthOn(sop!, 8, "m-3")], labelmaps: [] });
    await submit(db.prisma, t.id, reader, { answers: { usable: "yes" }, annotations: v2 }, P);

    const h = await taskHistory(db.prisma, t.id, P, { userId: reader, isOwner: false });
    expect(h.versions.map((v) => v.version)).toEqual([2, 1]);
    expect(h.versions[0]!.author?.email).toBe("reader@export.test");
    const d = h.versions[0]!.diff;
    expect(d.answers.map((a) => [a.question, a.label, a.before, a.after])).toEqual([
      ["usable", "Is the scan usable?", "no", "yes"],
      ["reason", "What is wrong?", ["motion"], null],
    ]);
    expect(d.annotations.map((a) => [a.id, a.change])).toEqual([
      ["m-1", "changed"],
      ["m-3", "added"],
      ["m-2", "removed"],
    ]);
    expect(d.annotations[0]!.detail).toBe("moved up to 6.0 mm; label “Lesion 1” → “Lesion A”");
    expect(h.versions[1]!.diff.annotations.map((a) => a.change)).toEqual(["added", "added"]);
    // The reviewer's task page shows the reader's latest version read-only; another reader sees none.
    const review = await taskView(db.prisma, t.id, owner, P, { reviewer: true });
    expect(review).toMatchObject({ reviewer: true, state: "submitted", result: { version: 2, answers: { usable: "yes" } } });
    expect((await taskView(db.prisma, t.id, other, P)).result).toBeNull();
    // Not yet accepted: nothing exported for a version under review.
    expect(h.versions[0]!.exports).toEqual([]);

    expect((await taskHistory(db.prisma, t.id, P, { userId: owner, isOwner: true })).versions).toHaveLength(2);
    const denied = await taskHistory(db.prisma, t.id, P, { userId: other, isOwner: false }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(TRPCError);
    expect((denied as TRPCError).code).toBe("FORBIDDEN");
    expect(((await taskHistory(db.prisma, t.id, "ELSEWHERE", { userId: owner, isOwner: true }).catch((e: unknown) => e)) as TRPCError).code).toBe("NOT_FOUND");

    // Accepted: the accepted version is exported, and the History shows it.
    await reviewTask(db.prisma, t.id, owner, "accepted", "", P);
    const accepted = await taskHistory(db.prisma, t.id, P, { userId: owner, isOwner: true });
    expect(accepted.versions[0]!.exports.map((x) => [x.kind, x.items, x.seriesNumber])).toEqual([["sr", 2, 9020]]);
    expect(accepted.versions[1]!.exports).toEqual([]);
  });
});
