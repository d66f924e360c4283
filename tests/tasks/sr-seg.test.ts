// DICOM SR (TID 1500) and SEG export of task results: built from real archived images' headers,
// checked by DCMTK's dsrdump and dicom3tools' dciodvfy (both installed by the test setup), and
// read back to what the viewer restores.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { COMPREHENSIVE_3D_SR, measurementReport, readMeasurementReport, ReportError, type ReportImage, type ReportInput } from "@/lib/tasks/sr";
import { readSegmentation, segmentation, sliceValues, SEGMENTATION_STORAGE, type SegInput, type SegSourceImage } from "@/lib/tasks/seg";
import { sourceImageOf } from "@/lib/tasks/source-image";
import { encodeRuns, type Measurement } from "@/lib/viewer/viewer";

const SAMPLES = path.resolve(__dirname, "../../../shared/dicom-samples");
const tmp = mkdtempSync(path.join(tmpdir(), "atrium-sr-seg-"));
const study = { studyInstanceUid: "2.25.1001", patientName: "SUBJ^0042", patientId: "SUBJ-0042", studyDate: "20200102", studyTime: "101500", studyId: "1", accessionNumber: "" };
const SERIES = "2.25.2001";

function image(file: string, sop: string): SegSourceImage & ReportImage {
  const h = sourceImageOf(readFileSync(path.join(SAMPLES, file)));
  return { ...h, sopInstanceUid: sop, seriesInstanceUid: SERIES };
}
const mrA = image("dwv__bbmri-53323131.dcm", "2.25.3001");
const mrB = image("dwv__bbmri-53323275.dcm", "2.25.3002");

/** dciodvfy's errors (its warnings are informative). */
function dciodvfyErrors(bytes: Buffer, name: string): string[] {
  const file = path.join(tmp, name);
  writeFileSync(file, bytes);
  const r = spawnSync("dciodvfy", [file], { encoding: "utf8" });
  return `${r.stdout}\n${r.stderr}`.split("\n").filter((l) => /^Error/.test(l));
}

// Points on image A's plane: origin + u·row direction + v·column direction (mm).
function onA(u: number, v: number): [number, number, number] {
  const o = mrA.imagePositionPatient!;
  const d = mrA.imageOrientationPatient!;
  return [o[0] + u * d[0] + v * d[3], o[1] + u * d[1] + v * d[4], o[2] + u * d[2] + v * d[5]];
}
const ref = { scan: "t1", sopInstanceUid: mrA.sopInstanceUid, frameOfReferenceUid: mrA.frameOfReferenceUid! };
const measurements: Measurement[] = [
  { uid: "m-length", tool: "length", ref, points: [onA(10, 10), onA(40, 50)], label: "Lesion 1" },
  { uid: "m-angle", tool: "angle", ref, points: [onA(0, 20), onA(20, 20), onA(20, 0)] },
  { uid: "m-ellipse", tool: "ellipse", ref, points: [onA(50, 60), onA(70, 60), onA(60, 55), onA(60, 65)], stats: { area: 78.5, mean: 120.5, stdDev: 10, max: 200, min: 3 } },
  { uid: "m-rect", tool: "rectangle", ref, points: [onA(5, 5), onA(25, 5), onA(5, 15), onA(25, 15)], stats: { area: 200 } },
  { uid: "m-point", tool: "point", ref, points: [onA(30, 30)], label: "Centre" },
];
const reportInput = (over: Partial<ReportInput> = {}): ReportInput => ({
  study,
  images: new Map([[mrA.sopInstanceUid, mrA]]),
  measurements,
  observer: "reader@example.org",
  seriesDescription: "Task #7 v1 measurements",
  seriesNumber: 9001,
  seriesInstanceUid: "2.25.4001",
  sopInstanceUid: "2.25.4002",
  at: new Date("2026-12-06T10:00:00Z"),
  ...over,
});

describe("measurement report (TID 1500)", () => {
  const bytes = measurementReport(reportInput());

  it("is a Comprehensive 3D SR that DCMTK reads and dciodvfy finds no error in", () => {
    const file = path.join(tmp, "report.dcm");
    writeFileSync(file, bytes);
    const dump = execFileSync("dsrdump", [file], { encoding: "utf8" });
    expect(dump).toContain("Imaging Measurement Report");
    expect(dump).toContain("Comprehensive 3D SR");
    expect(dump).toContain("SCOORD3D");
    expect(dciodvfyErrors(bytes, "report-v.dcm")).toEqual([]);
    expect(execFileSync("dcmdump", ["-Un", "+P", "0008,0016", file], { encoding: "utf8" })).toContain(COMPREHENSIVE_3D_SR);
  });

  it("reads back every measurement with its tool, label, image, points and values", () => {
    const back = readMeasurementReport(bytes);
    expect(back.map((m) => m.tool)).toEqual(["length", "angle", "ellipse", "rectangle", "point"]);
    const close = (a: number[][], b: number[][]) => a.forEach((p, i) => p.forEach((v, k) => expect(v).toBeCloseTo(b[i]![k]!, 3)));
    back.forEach((m, i) => close(m.points, measurements[i]!.points));
    const length = back[0]!;
    expect(length.label).toBe("Lesion 1");
    expect(length.sopInstanceUid).toBe(mrA.sopInstanceUid);
    expect(length.frameOfReferenceUid).toBe(mrA.frameOfReferenceUid);
    expect(length.values.Length!.value).toBeCloseTo(50, 3);
    expect(length.values.Length!.unit).toBe("mm");
    expect(back[1]!.values.Angle?.value ?? Object.values(back[1]!.values)[0]!.value).toBeCloseTo(90, 3);
    expect(back[2]!.values.Area!.value).toBeCloseTo(78.5, 3);
    expect(back[2]!.values.Mean!.value).toBeCloseTo(120.5, 3);
    expect(back[4]!.label).toBe("Centre");
  });

  it("refuses what it cannot reference, saying why", () => {
    expect(() => measurementReport(reportInput({ measurements: [] }))).toThrow(ReportError);
    const elsewhere = { ...measurements[0]!, ref: { ...ref, sopInstanceUid: "2.25.9999" } };
    expect(() => measurementReport(reportInput({ measurements: [elsewhere] }))).toThrow(/not on an image of the archive/);
    const reformatted = { ...measurements[0]!, ref: { scan: "t1" } };
    expect(() => measurementReport(reportInput({ measurements: [reformatted] }))).toThrow(/reformatted view/);
    expect(() => measurementReport(reportInput({ measurements: [{ ...measurements[0]!, points: [onA(1, 1)] }] }))).toThrow(/needs two/);
    const noFrame = new Map([[mrA.sopInstanceUid, { ...mrA, frameOfReferenceUid: null }]]);
    expect(() => measurementReport(reportInput({ images: noFrame }))).toThrow(/Frame of Reference/);
    expect(() => readMeasurementReport(readFileSync(path.join(SAMPLES, "dwv__bbmri-53323131.dcm")))).toThrow();
  });
});

describe("segmentation (binary DICOM SEG)", () => {
  const size = mrA.rows * mrA.columns;
  const paint = (fill: (values: Uint8Array) => void) => {
    const v = new Uint8Array(size);
    fill(v);
    return v;
  };
  const sliceA = paint((v) => {
    v.fill(1, 1000, 1100);
    v.fill(2, 5000, 5010);
  });
  const sliceB = paint((v) => v.fill(1, 2000, 2300));
  const input = (over: Partial<SegInput> = {}): SegInput => ({
    study,
    images: new Map([
      [mrA.sopInstanceUid, mrA],
      [mrB.sopInstanceUid, mrB],
    ]),
    labelmap: {
      scan: "t1",
      slices: [
        { sopInstanceUid: mrA.sopInstanceUid, frame: 1, rows: mrA.rows, columns: mrA.columns, runs: encodeRuns(sliceA) },
        { sopInstanceUid: mrB.sopInstanceUid, frame: 1, rows: mrB.rows, columns: mrB.columns, runs: encodeRuns(sliceB) },
      ],
    },
    labels: [
      { value: 1, name: "Lesion", color: "#ff0000" },
      { value: 2, name: "Oedema", color: "#00ff00" },
    ],
    creator: "reader@example.org",
    seriesDescription: "Task #7 v1 segmentation",
    seriesNumber: 9002,
    seriesInstanceUid: "2.25.5001",
    sopInstanceUid: "2.25.5002",
    at: new Date("2026-12-06T10:00:00Z"),
    ...over,
  });
  const bytes = segmentation(input());

  it("is a binary SEG with one frame per painted (label, image) that dciodvfy finds no error in", () => {
    expect(dciodvfyErrors(bytes, "seg.dcm")).toEqual([]);
    const dump = execFileSync("dcmdump", ["-Un", path.join(tmp, "seg.dcm")], { encoding: "utf8" });
    expect(dump).toContain(SEGMENTATION_STORAGE);
    expect(dump).toMatch(/\(0028,0008\) IS \[3\]/);
    expect(dump).toContain("Lesion");
    expect(dump).toContain("Oedema");
  });

  it("reads back to the same labelmap and labels", () => {
    const back = readSegmentation(bytes, "t1");
    expect(back.labels.map((l) => [l.value, l.name])).toEqual([
      [1, "Lesion"],
      [2, "Oedema"],
    ]);
    const bySop = new Map(back.labelmap.slices.map((s) => [s.sopInstanceUid, sliceValues(s.runs, size)]));
    expect(bySop.get(mrA.sopInstanceUid)).toEqual(sliceA);
    expect(bySop.get(mrB.sopInstanceUid)).toEqual(sliceB);
  });

  it("refuses what it cannot place, saying why", () => {
    expect(() => segmentation(input({ labelmap: { scan: "t1", slices: [] } }))).toThrow(/nothing was painted/);
    const wrongSize = { scan: "t1", slices: [{ sopInstanceUid: mrA.sopInstanceUid, frame: 1, rows: 10, columns: 10, runs: [[0, 5, 1]] as [number, number, number][] }] };
    expect(() => segmentation(input({ labelmap: wrongSize }))).toThrow(/does not belong/);
    const flat = new Map([[mrA.sopInstanceUid, { ...mrA, imagePositionPatient: null }]]);
    expect(() => segmentation(input({ images: flat, labelmap: { scan: "t1", slices: [input().labelmap.slices[0]!] } }))).toThrow(/no plane geometry/);
    expect(() => readSegmentation(readFileSync(path.join(SAMPLES, "dwv__bbmri-53323131.dcm")), "t1")).toThrow(/not a binary DICOM Segmentation/);
  });
});

describe("source image headers", () => {
  it("reads the geometry of implicit, explicit and big-endian files", () => {
    for (const f of ["dicomParser__ctimage.dcm", "dwv__bbmri-53323131.dcm", "dicomParser__CT1_UNC.explicit_big_endian.dcm"]) {
      const h = sourceImageOf(readFileSync(path.join(SAMPLES, f)));
      expect(h.rows, f).toBeGreaterThan(0);
      expect(h.imageOrientationPatient, f).toHaveLength(6);
      expect(h.imagePositionPatient, f).toHaveLength(3);
      expect(h.pixelSpacing, f).toHaveLength(2);
      expect(h.frameOfReferenceUid, f).toMatch(/^[0-9.]+$/);
    }
    expect(sourceImageOf(readFileSync(path.join(SAMPLES, "dicomParser__CT1_UNC.explicit_big_endian.dcm"))).rows).toBe(512);
  });
});
