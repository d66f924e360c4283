// Preview cost per transfer syntax (#21 §5): decoding one frame and rendering it to a 128 px
// thumbnail and to a full-size PNG, for every compressed image among the shared samples, against
// the uncompressed baseline measured in the same run (the uncompressed twins of the same images
// where the samples have them, and every native image). The first decode of each codec loads its
// wasm module: that cost is printed separately and left out of the per-frame figures.
//
// Run: npx tsx bench/previews.ts [--rounds 5]
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { parseDicom } from "../lib/dicom/parse";
import { BufferSource } from "../lib/dicom/source";
import { pixelInfo, frameBytes } from "../lib/dicomweb/frames";
import { decodeForRender, renderFramePng } from "../lib/dicomweb/render";
import { codecFor, decodeFrame } from "../lib/dicom/codecs";
import { SAMPLES_DIR } from "../lib/samples";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const ROUNDS = Number(values.rounds);

const rows = readFileSync(path.join(SAMPLES_DIR, "MANIFEST.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"));
interface Sample { name: string; syntax: string; kind: string; megapixels: number; file: ReturnType<typeof parseDicom>; info: NonNullable<ReturnType<typeof pixelInfo>> }
const samples: Sample[] = [];
for (const r of rows) {
  try {
    const file = parseDicom(new BufferSource(readFileSync(path.join(SAMPLES_DIR, r[0]!))));
    const info = pixelInfo(file);
    if (!info || !info.rows) continue;
    const kind = info.encapsulated ? (info.transferSyntaxUid === "1.2.840.10008.1.2.5" ? "rle" : codecFor(info.transferSyntaxUid) ?? "undecodable") : info.bitsAllocated === 1 ? "1-bit" : "native";
    if (kind === "undecodable") continue;
    samples.push({ name: r[0]!, syntax: r[7]!, kind, megapixels: (info.rows * info.columns) / 1e6, file, info });
  } catch {
    // not parseable: not part of the bench
  }
}

// Wasm load (first decode per codec).
const loads: string[] = [];
for (const kind of ["jpeg-baseline", "jpeg-lossless", "jpeg-ls", "jpeg2000", "htj2k"]) {
  const s = samples.find((x) => x.kind === kind && !(kind === "jpeg-baseline" && x.info.bitsAllocated > 8));
  if (!s) continue;
  const t = performance.now();
  await decodeFrame(s.info.transferSyntaxUid, frameBytes(s.file, s.info, 1), s.info);
  loads.push(`${kind} ${(performance.now() - t).toFixed(0)} ms`);
}
console.log(`first decode (module load + one frame): ${loads.join(", ")}`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function measure(s: Sample) {
  const decode: number[] = [];
  const thumb: number[] = [];
  const full: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    let t = performance.now();
    const d = await decodeForRender(s.file, s.info, 1);
    decode.push(performance.now() - t);
    t = performance.now();
    renderFramePng(s.file, s.info, 1, { viewport: { width: 128, height: 128 } }, d);
    thumb.push(performance.now() - t + decode[i]!);
    t = performance.now();
    renderFramePng(s.file, s.info, 1, {}, d);
    full.push(performance.now() - t + decode[i]!);
  }
  return { decode: median(decode), thumb: median(thumb), full: median(full) };
}

const byKind = new Map<string, { n: number; mp: number; decode: number; thumb: number; full: number }>();
console.log(`\nper image (median of ${ROUNDS}; thumbnail and full-size PNG include the decode)`);
console.log("kind           decode ms  thumb ms  full ms    MP  sample");
for (const s of samples) {
  let m;
  try {
    m = await measure(s);
  } catch (e) {
    console.log(`${s.kind.padEnd(14)} not rendered: ${(e as Error).message}  ${s.name}`);
    continue;
  }
  const k = byKind.get(s.kind) ?? { n: 0, mp: 0, decode: 0, thumb: 0, full: 0 };
  byKind.set(s.kind, { n: k.n + 1, mp: k.mp + s.megapixels, decode: k.decode + m.decode, thumb: k.thumb + m.thumb, full: k.full + m.full });
  console.log(`${s.kind.padEnd(14)} ${m.decode.toFixed(1).padStart(9)} ${m.thumb.toFixed(1).padStart(9)} ${m.full.toFixed(1).padStart(8)} ${s.megapixels.toFixed(2).padStart(5)}  ${s.name}`);
}

const base = byKind.get("native")!;
const baseThumbPerMp = base.thumb / base.mp;
console.log(`\nper syntax: thumbnail ms per megapixel, and × the uncompressed baseline (native: ${baseThumbPerMp.toFixed(1)} ms/MP over ${base.n} images)`);
for (const [kind, k] of byKind) {
  const perMp = k.thumb / k.mp;
  console.log(`${kind.padEnd(14)} ${String(k.n).padStart(2)} images  decode ${(k.decode / k.mp).toFixed(1).padStart(7)} ms/MP  thumbnail ${perMp.toFixed(1).padStart(7)} ms/MP  ×${(perMp / baseThumbPerMp).toFixed(2)}`);
}

// Same images, compressed vs their uncompressed twins.
const pairs: [string, string][] = [
  ["pydicom-data__US1_J2KR.dcm", "pydicom-data__US1_UNCR.dcm"],
  ["pydicom-data__MR2_J2KI.dcm", "pydicom-data__MR2_UNCR.dcm"],
  ["pydicom-data__emri_small_jpeg_ls_lossless.dcm", "pydicom-data__emri_small.dcm"],
  ["pydicom-data__emri_small_RLE.dcm", "pydicom-data__emri_small.dcm"],
  ["dicomParser__IM00001.fragmented_no_bot_jpeg_baseline.50.dcm", "dicomParser__IM00001.implicit_little_endian.dcm"],
];
console.log("\nsame image, compressed vs uncompressed (thumbnail ms, median)");
for (const [c, u] of pairs) {
  const sc = samples.find((s) => s.name === c);
  const su = samples.find((s) => s.name === u);
  if (!sc || !su) continue;
  const mc = await measure(sc);
  const mu = await measure(su);
  console.log(`${sc.kind.padEnd(14)} ${mc.thumb.toFixed(1).padStart(7)} ms vs ${mu.thumb.toFixed(1).padStart(7)} ms uncompressed (×${(mc.thumb / mu.thumb).toFixed(2)})  ${c}`);
}
