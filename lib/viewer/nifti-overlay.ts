// A pipeline's segmentation NIfTI shown over a series: the label volume read with nifti-reader-js
// (NIfTI-1/2, gzipped or not), and its labels on each image of the series, found by nearest
// neighbour through the two geometries (the NIfTI affine maps voxels to RAS millimetres; DICOM
// patient coordinates are LPS). Pure: the viewer runs it in the browser, tests in Node.
import * as nifti from "nifti-reader-js";

/** An image's plane as DICOM states it (Image Position/Orientation (Patient), Pixel Spacing, Rows, Columns). */
export interface ImagePlane {
  rows: number;
  columns: number;
  /** Centre of the first pixel, mm (LPS). */
  position: readonly number[];
  /** Image Orientation (Patient): the row direction (columns increase along it), then the column direction. */
  orientation: readonly number[];
  /** Pixel Spacing: [between rows, between columns], mm. */
  pixelSpacing: readonly number[];
}

export interface LabelVolume {
  dims: [number, number, number];
  /** Each voxel's label (0: none), x fastest. */
  labels: Uint8Array;
  /** LPS millimetres → voxel indices (3×4, row-major). */
  worldToVoxel: number[][];
  /** The labels present, ascending, without 0. */
  present: number[];
}

/** A file that cannot be shown as a label overlay; the message says what is wrong and what to do. */
export class OverlayError extends Error {
  override name = "OverlayError";
}

const LARGEST_LABEL = 255;

/** Reads a NIfTI label volume (the first volume of a 4D file is refused: a label overlay is 3D). */
export function readLabelVolume(input: ArrayBuffer | Uint8Array): LabelVolume {
  let buf: ArrayBuffer = input instanceof Uint8Array ? (input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength) as ArrayBuffer) : input;
  try {
    if (nifti.isCompressed(buf)) buf = nifti.decompress(buf) as ArrayBuffer;
  } catch {
    throw new OverlayError("The overlay is a gzip file that could not be decompressed; the pipeline should write a complete .nii or .nii.gz.");
  }
  if (!nifti.isNIFTI(buf)) throw new OverlayError("The overlay is not a NIfTI file (.nii or .nii.gz); a label overlay must be a NIfTI volume or a DICOM SEG.");
  const header = nifti.readHeader(buf);
  const [rank = 0, nx = 1, ny = 1, nz = 1, nt = 1] = header.dims;
  if (rank < 2 || rank > 4 || (rank === 4 && nt > 1) || header.dims.slice(5, rank + 1).some((d) => d > 1)) {
    throw new OverlayError(`The overlay has ${rank} dimensions (${header.dims.slice(1, rank + 1).join("×")}); a label overlay is one 3D volume.`);
  }
  const count = nx * ny * nz;
  const raw = nifti.readImage(header, buf);
  const read = reader(header.datatypeCode, raw, header.littleEndian);
  if (!read) throw new OverlayError(`The overlay's data type (NIfTI datatype ${header.datatypeCode}) is not a label type; write labels as integers (uint8, int16, …) or whole-numbered floats.`);
  if (raw.byteLength < count * read.bytes) throw new OverlayError(`The overlay holds ${raw.byteLength} bytes of voxels where ${nx}×${ny}×${nz} need ${count * read.bytes}; the file is truncated.`);
  const slope = header.scl_slope && Number.isFinite(header.scl_slope) ? header.scl_slope : 1;
  const inter = Number.isFinite(header.scl_inter) ? header.scl_inter : 0;
  const labels = new Uint8Array(count);
  const seen = new Uint8Array(LARGEST_LABEL + 1);
  for (let i = 0; i < count; i++) {
    const v = Math.round(read.at(i) * slope + inter);
    if (v === 0 || Number.isNaN(v)) continue;
    if (v < 0 || v > LARGEST_LABEL) throw new OverlayError(`The overlay has a voxel of value ${v}; labels are 1…${LARGEST_LABEL} (0 is background).`);
    labels[i] = v;
    seen[v] = 1;
  }
  const present: number[] = [];
  seen.forEach((s, v) => s && present.push(v));
  const a = header.affine;
  // voxel → LPS: the RAS affine with its x and y rows negated.
  const toLps = [
    [-a[0]![0]!, -a[0]![1]!, -a[0]![2]!, -a[0]![3]!],
    [-a[1]![0]!, -a[1]![1]!, -a[1]![2]!, -a[1]![3]!],
    [a[2]![0]!, a[2]![1]!, a[2]![2]!, a[2]![3]!],
  ];
  return { dims: [nx, ny, nz], labels, worldToVoxel: invertAffine(toLps), present };
}

function reader(code: number, raw: ArrayBuffer, littleEndian: boolean): { bytes: number; at: (i: number) => number } | null {
  const view = new DataView(raw);
  switch (code) {
    case 2:
      return { bytes: 1, at: (i) => view.getUint8(i) };
    case 256:
      return { bytes: 1, at: (i) => view.getInt8(i) };
    case 4:
      return { bytes: 2, at: (i) => view.getInt16(i * 2, littleEndian) };
    case 512:
      return { bytes: 2, at: (i) => view.getUint16(i * 2, littleEndian) };
    case 8:
      return { bytes: 4, at: (i) => view.getInt32(i * 4, littleEndian) };
    case 768:
      return { bytes: 4, at: (i) => view.getUint32(i * 4, littleEndian) };
    case 16:
      return { bytes: 4, at: (i) => view.getFloat32(i * 4, littleEndian) };
    case 64:
      return { bytes: 8, at: (i) => view.getFloat64(i * 8, littleEndian) };
    default:
      return null;
  }
}

/** The inverse of an affine map given as 3×4 (row-major), as 3×4. */
export function invertAffine(m: number[][]): number[][] {
  const [a, b, c] = [m[0]!, m[1]!, m[2]!];
  const det = a[0]! * (b[1]! * c[2]! - b[2]! * c[1]!) - a[1]! * (b[0]! * c[2]! - b[2]! * c[0]!) + a[2]! * (b[0]! * c[1]! - b[1]! * c[0]!);
  if (!det || !Number.isFinite(det)) throw new OverlayError("The overlay's affine (its voxel-to-world transform) cannot be inverted; the NIfTI header's sform/qform is broken.");
  const inv = [
    [(b[1]! * c[2]! - b[2]! * c[1]!) / det, (a[2]! * c[1]! - a[1]! * c[2]!) / det, (a[1]! * b[2]! - a[2]! * b[1]!) / det],
    [(b[2]! * c[0]! - b[0]! * c[2]!) / det, (a[0]! * c[2]! - a[2]! * c[0]!) / det, (a[2]! * b[0]! - a[0]! * b[2]!) / det],
    [(b[0]! * c[1]! - b[1]! * c[0]!) / det, (a[1]! * c[0]! - a[0]! * c[1]!) / det, (a[0]! * b[1]! - a[1]! * b[0]!) / det],
  ];
  const t = [a[3]!, b[3]!, c[3]!];
  return inv.map((r) => [r[0]!, r[1]!, r[2]!, -(r[0]! * t[0]! + r[1]! * t[1]! + r[2]! * t[2]!)]);
}

/**
 * The volume's labels on one image (row-major, rows × columns), each pixel taking the label of the
 * voxel nearest its centre (0 outside the volume); null when no pixel has a label.
 */
export function labelsOnImage(vol: LabelVolume, plane: ImagePlane, into?: Uint8Array): Uint8Array | null {
  const { rows, columns, position: p, orientation: o, pixelSpacing } = plane;
  const [betweenRows = 1, betweenColumns = 1] = pixelSpacing;
  const m = vol.worldToVoxel;
  const [nx, ny, nz] = vol.dims;
  const apply = (x: number, y: number, z: number, w: number) => [0, 1, 2].map((r) => m[r]![0]! * x + m[r]![1]! * y + m[r]![2]! * z + m[r]![3]! * w);
  const origin = apply(p[0]!, p[1]!, p[2]!, 1);
  const alongRow = apply(o[0]! * betweenColumns, o[1]! * betweenColumns, o[2]! * betweenColumns, 0);
  const alongColumn = apply(o[3]! * betweenRows, o[4]! * betweenRows, o[5]! * betweenRows, 0);
  const out = into ?? new Uint8Array(rows * columns);
  let any = false;
  for (let r = 0; r < rows; r++) {
    let x = origin[0]! + alongColumn[0]! * r;
    let y = origin[1]! + alongColumn[1]! * r;
    let z = origin[2]! + alongColumn[2]! * r;
    const base = r * columns;
    for (let c = 0; c < columns; c++) {
      const i = Math.round(x);
      const j = Math.round(y);
      const k = Math.round(z);
      let v = 0;
      if (i >= 0 && j >= 0 && k >= 0 && i < nx && j < ny && k < nz) v = vol.labels[i + nx * (j + ny * k)]!;
      out[base + c] = v;
      if (v) any = true;
      x += alongRow[0]!;
      y += alongRow[1]!;
      z += alongRow[2]!;
    }
  }
  return any ? out : null;
}
