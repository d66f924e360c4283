#!/usr/bin/env node
// Image statistics of a NIfTI-1 image (.nii or .nii.gz), no dependencies: voxel count, mean,
// percentiles, and the volume of the mask of voxels above a threshold. Prints one JSON object on
// stdout (the pipeline finds its outputs there).
// Usage: node nifti-stats.mjs IMAGE [--threshold N]
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

const args = process.argv.slice(2);
const file = args[0];
const ti = args.indexOf("--threshold");
const threshold = ti >= 0 ? Number(args[ti + 1]) : null;
if (!file) {
  console.error("usage: nifti-stats.mjs IMAGE [--threshold N]");
  process.exit(2);
}
let buf = readFileSync(file);
if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
let le = true;
if (buf.readInt32LE(0) !== 348) {
  if (buf.readInt32BE(0) !== 348) {
    console.error(`${file} is not a NIfTI-1 image (header size is not 348).`);
    process.exit(3);
  }
  le = false;
}
const i16 = (o) => (le ? buf.readInt16LE(o) : buf.readInt16BE(o));
const f32 = (o) => (le ? buf.readFloatLE(o) : buf.readFloatBE(o));
const ndim = i16(40);
const dims = Array.from({ length: ndim }, (_, i) => i16(42 + 2 * i));
const datatype = i16(70);
const pixdim = Array.from({ length: 3 }, (_, i) => Math.abs(f32(80 + 4 * i)) || 1);
const voxOffset = Math.floor(f32(108)) || 352;
let slope = f32(112);
const inter = f32(116) || 0;
if (!slope) slope = 1;
const readers = {
  2: [1, (o) => buf.readUInt8(o)],
  256: [1, (o) => buf.readInt8(o)],
  4: [2, (o) => (le ? buf.readInt16LE(o) : buf.readInt16BE(o))],
  512: [2, (o) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o))],
  8: [4, (o) => (le ? buf.readInt32LE(o) : buf.readInt32BE(o))],
  768: [4, (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o))],
  16: [4, (o) => (le ? buf.readFloatLE(o) : buf.readFloatBE(o))],
  64: [8, (o) => (le ? buf.readDoubleLE(o) : buf.readDoubleBE(o))],
  128: [1, (o) => buf.readUInt8(o)], // RGB24: each channel counted as a voxel value
};
const r = readers[datatype];
if (!r) {
  console.error(`NIfTI datatype ${datatype} is not supported.`);
  process.exit(4);
}
const [size, read] = r;
const count = dims.reduce((a, b) => a * Math.max(1, b), 1) * (datatype === 128 ? 3 : 1);
const values = new Float64Array(count);
let sum = 0;
for (let i = 0; i < count; i++) {
  const v = read(voxOffset + i * size) * slope + inter;
  values[i] = v;
  sum += v;
}
values.sort();
const pct = (p) => values[Math.min(count - 1, Math.floor((p / 100) * count))];
const t = threshold ?? pct(50);
let above = 0;
for (let i = 0; i < count; i++) if (values[i] > t) above++;
const voxelMm3 = pixdim[0] * pixdim[1] * pixdim[2];
console.log(
  JSON.stringify({
    voxels: count,
    mean: Math.round((sum / count) * 1000) / 1000,
    p5: pct(5),
    p50: pct(50),
    p95: pct(95),
    threshold: t,
    maskVoxels: above,
    maskVolumeMl: Math.round(((above * voxelMm3) / 1000) * 1000) / 1000,
  }),
);
