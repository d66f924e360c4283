// lib/viewer/nifti-overlay: a label NIfTI placed on a DICOM series' images. The check that matters
// is against another implementation of the geometry: dcm2niix converts a real oblique MR series
// (six sagittal slices of the shared samples), the test thresholds that NIfTI into a label volume,
// and every pixel of every DICOM slice must get the label that thresholding the DICOM's own pixel
// gives — whatever flips and reordering dcm2niix applied.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import dcmjs from "dcmjs";
import { beforeAll, describe, expect, it } from "vitest";
import { invertAffine, labelsOnImage, OverlayError, readLabelVolume, type ImagePlane } from "@/lib/viewer/nifti-overlay";
import { SAMPLES_DIR } from "@/lib/samples";
import { labelOfValue, labelVolumeOf, niftiWith } from "../helpers/nifti";

const SERIES = readdirSync(SAMPLES_DIR).filter((f) => f.startsWith("dwv__bbmri-")).sort();
function planeOf(file: string): { plane: ImagePlane; pixels: Uint16Array | Int16Array } {
  const bytes = readFileSync(path.join(SAMPLES_DIR, file));
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)).dict) as Record<string, unknown>;
  const rows = ds.Rows as number;
  const columns = ds.Columns as number;
  const raw = (ds.PixelData as ArrayBuffer[])[0]!;
  const pixels = (ds.PixelRepresentation as number) === 1 ? new Int16Array(raw, 0, rows * columns) : new Uint16Array(raw, 0, rows * columns);
  const nums = (v: unknown) => (v as (number | string)[]).map(Number);
  return { plane: { rows, columns, position: nums(ds.ImagePositionPatient), orientation: nums(ds.ImageOrientationPatient), pixelSpacing: nums(ds.PixelSpacing) }, pixels };
}

describe("a label NIfTI on a DICOM series", () => {
  let header: Uint8Array;
  let mask: Uint8Array;
  beforeAll(() => {
    const made = labelVolumeOf(SERIES.map((f) => path.join(SAMPLES_DIR, f)));
    expect([0, 1]).toContain(made.sclSlope);
    expect(made.dims[0]).toBe(3);
    expect(made.dims[1]! * made.dims[2]! * made.dims[3]!).toBe(256 * 256 * SERIES.length);
    header = made.header;
    mask = made.labels;
  });

  it("gives each pixel of each slice the label of its own value (dcm2niix's geometry, gzipped uint8 labels)", () => {
    const vol = readLabelVolume(gzipSync(niftiWith(header, 2, 8, mask)));
    expect(vol.present).toEqual([1, 2]);
    let labelled = 0;
    for (const f of SERIES) {
      const { plane, pixels } = planeOf(f);
      const got = labelsOnImage(vol, plane);
      expect(got, f).not.toBeNull();
      const want = Uint8Array.from(pixels, labelOfValue);
      let differ = 0;
      for (let i = 0; i < want.length; i++) if (want[i] !== got![i]) differ++;
      expect(differ, `${f}: pixels labelled otherwise than their value`).toBe(0);
      labelled += want.reduce((n, v) => n + (v ? 1 : 0), 0);
    }
    expect(labelled).toBeGreaterThan(10_000);
  });

  it("reads int16 and float labels, applying the header's scaling", () => {
    const asInt16 = new Uint8Array(Int16Array.from(mask).buffer);
    expect(readLabelVolume(niftiWith(header, 4, 16, asInt16)).labels).toEqual(mask);
    const halves = new Uint8Array(Float32Array.from(mask, (v) => v / 2).buffer);
    expect(readLabelVolume(niftiWith(header, 16, 32, halves, { slope: 2 })).labels).toEqual(mask);
  });

  it("leaves an image outside the volume unlabelled, and a shifted image off by the shift", () => {
    const vol = readLabelVolume(niftiWith(header, 2, 8, mask));
    const { plane } = planeOf(SERIES[0]!);
    const normal = [
      plane.orientation[1]! * plane.orientation[5]! - plane.orientation[2]! * plane.orientation[4]!,
      plane.orientation[2]! * plane.orientation[3]! - plane.orientation[0]! * plane.orientation[5]!,
      plane.orientation[0]! * plane.orientation[4]! - plane.orientation[1]! * plane.orientation[3]!,
    ];
    const far = plane.position.map((p, i) => p - 100 * normal[i]!);
    expect(labelsOnImage(vol, { ...plane, position: far })).toBeNull();
    // One pixel along the row direction: the labels move one column left.
    const next = plane.position.map((p, i) => p + plane.orientation[i]! * plane.pixelSpacing[1]!);
    const a = labelsOnImage(vol, plane)!;
    const b = labelsOnImage(vol, { ...plane, position: next })!;
    let same = 0;
    let checked = 0;
    for (let r = 0; r < plane.rows; r++) for (let c = 0; c + 1 < plane.columns; c++, checked++) if (b[r * plane.columns + c] === a[r * plane.columns + c + 1]) same++;
    expect(same).toBe(checked);
  });

  it("refuses what is not one label volume, saying what is wrong", () => {
    expect(() => readLabelVolume(new TextEncoder().encode("not a nifti file at all, just text".repeat(20)))).toThrow(/not a NIfTI file/);
    expect(() => readLabelVolume(niftiWith(header, 2, 8, new Uint8Array(mask.length * 2), { dims: [4, 256, 256, SERIES.length, 2] }))).toThrow(/one 3D volume/);
    const big = new Uint8Array(Int16Array.from(mask, (v) => (v ? 300 : 0)).buffer);
    expect(() => readLabelVolume(niftiWith(header, 4, 16, big))).toThrow(OverlayError);
    expect(() => readLabelVolume(niftiWith(header, 4, 16, big))).toThrow(/value 300; labels are 1…255/);
    expect(() => readLabelVolume(niftiWith(header, 2, 8, mask.subarray(0, 1000)))).toThrow(/truncated/);
    expect(() => readLabelVolume(niftiWith(header, 32, 64, mask))).toThrow(/not a label type/);
  });

  it("inverts an affine", () => {
    const m = [[0, -1.5, 0, 10], [2, 0, 0.5, -3], [0, 0, 3, 7]];
    const inv = invertAffine(m);
    const p = [3, 4, 5];
    const w = m.map((r) => r[0]! * p[0]! + r[1]! * p[1]! + r[2]! * p[2]! + r[3]!);
    const back = inv.map((r) => r[0]! * w[0]! + r[1]! * w[1]! + r[2]! * w[2]! + r[3]!);
    back.forEach((v, i) => expect(v).toBeCloseTo(p[i]!, 9));
    expect(() => invertAffine([[1, 0, 0, 0], [2, 0, 0, 0], [0, 0, 1, 0]])).toThrow(/cannot be inverted/);
  });
});
