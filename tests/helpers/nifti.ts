// A label NIfTI made from a real DICOM series for tests: dcm2niix converts the series (its geometry,
// flips and slice order are dcm2niix's own, not ours), and the voxels are replaced by labels of
// their values (labelOfValue), so a pixel's expected label can be computed from the DICOM alone.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as nifti from "nifti-reader-js";

export const LABEL_LOW = 150;
export const LABEL_HIGH = 400;
/** The label the test volumes give a pixel value: 2 above LABEL_HIGH, 1 above LABEL_LOW, else 0. */
export const labelOfValue = (v: number) => (v > LABEL_HIGH ? 2 : v > LABEL_LOW ? 1 : 0);

/** A NIfTI-1 file: `header`'s first 348 bytes (the geometry kept) over new voxels of another type. */
export function niftiWith(header: Uint8Array, datatype: number, bitpix: number, voxels: Uint8Array, opts: { slope?: number; dims?: number[] } = {}): Uint8Array {
  const out = new Uint8Array(352 + voxels.byteLength);
  out.set(header.subarray(0, 348));
  const view = new DataView(out.buffer);
  view.setInt16(70, datatype, true);
  view.setInt16(72, bitpix, true);
  view.setFloat32(108, 352, true);
  view.setFloat32(112, opts.slope ?? 1, true);
  view.setFloat32(116, 0, true);
  if (opts.dims) opts.dims.forEach((d, i) => view.setInt16(40 + 2 * i, d, true));
  out.set(voxels, 352);
  return out;
}

/** dcm2niix's conversion of these DICOM files (one series): its header and its voxels as labels (uint8, labelOfValue). */
export function labelVolumeOf(files: string[]): { header: Uint8Array; labels: Uint8Array; dims: number[]; sclSlope: number; nii: Uint8Array } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "atrium-nifti-"));
  try {
    const input = path.join(dir, "dicom");
    mkdirSync(input);
    mkdirSync(path.join(dir, "out"));
    for (const f of files) copyFileSync(f, path.join(input, path.basename(f)));
    execFileSync("dcm2niix", ["-z", "n", "-b", "n", "-f", "vol", "-o", path.join(dir, "out"), input], { stdio: "ignore" });
    const file = readFileSync(path.join(dir, "out", "vol.nii"));
    const buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
    const h = nifti.readHeader(buf);
    const img = nifti.readImage(h, buf);
    const values = h.datatypeCode === 4 ? new Int16Array(img) : new Uint16Array(img);
    const header = new Uint8Array(buf, 0, 348);
    const labels = Uint8Array.from(values, labelOfValue);
    return { header, labels, dims: h.dims, sclSlope: h.scl_slope, nii: niftiWith(header, 2, 8, labels) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
