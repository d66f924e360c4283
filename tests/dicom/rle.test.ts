// RLE Lossless pixel blanking: decode (PS3.5 Annex G) → blank → re-encode, checked against DCMTK
// (dcmdrle decompresses Atrium's output; dcmcrle makes an RGB RLE file from a real sample) and
// against the same blanking applied to the uncompressed equivalent of the sample.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { deidentify } from "@/lib/dicom/deid";
import { MemoryPseudonymStore } from "@/lib/dicom/pseudonyms";
import { parsePixelScript } from "@/lib/dicom/pixel";
import { decodeRleFrame, encodeRleFrame } from "@/lib/dicom/rle";
import { encodedToBuffer } from "@/lib/dicom/write";
import { findElement, numberValue, parseDicom } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { dcmdump, readSample, SAMPLES } from "./helpers";

const tmp = mkdtempSync(path.join(tmpdir(), "atrium-rle-test-"));
let n = 0;
const store = new MemoryPseudonymStore();

/** Decompresses an RLE file with DCMTK and returns its native pixel data and geometry. */
function dcmtkDecode(buf: Buffer) {
  const a = path.join(tmp, `in${n}.dcm`);
  const b = path.join(tmp, `out${n++}.dcm`);
  writeFileSync(a, buf);
  execFileSync("/usr/bin/dcmdrle", [a, b], { stdio: "pipe" });
  return native(readFileSync(b));
}

/** Native pixel data in pixel-interleaved order, with rows, columns, samples, bytes/sample. */
function native(buf: Buffer) {
  const p = parseDicom(new BufferSource(buf));
  const ds = p.dataset;
  const le = p.syntax.littleEndian;
  const rows = numberValue(ds, 0x00280010, le)!;
  const cols = numberValue(ds, 0x00280011, le)!;
  const spp = numberValue(ds, 0x00280002, le) ?? 1;
  const bpp = numberValue(ds, 0x00280100, le)! / 8;
  const frames = Math.max(1, Number(findElement(ds, 0x00280008) ? new TextDecoder().decode(findElement(ds, 0x00280008)!.buf.subarray(findElement(ds, 0x00280008)!.valueOffset, findElement(ds, 0x00280008)!.valueOffset + findElement(ds, 0x00280008)!.length)).trim() : 1));
  const planar = numberValue(ds, 0x00280006, le) ?? 0;
  const el = findElement(ds, 0x7fe00010)!;
  expect(el.encapsulated).toBeUndefined();
  let px = Buffer.from(p.pixelSource.readAt(el.valueOffset, rows * cols * spp * bpp * frames));
  if (!le && bpp > 1) for (let i = 0; i < px.length; i += bpp) px.subarray(i, i + bpp).reverse();
  // Big endian OW: 8-bit samples sit in byte-swapped 16-bit words.
  if (!le && bpp === 1 && (el.fileVr ?? el.vr) === "OW") for (let i = 0; i + 1 < px.length; i += 2) px.subarray(i, i + 2).reverse();
  if (planar === 1 && spp > 1) {
    const out = Buffer.alloc(px.length);
    const fb = rows * cols * spp * bpp;
    for (let f = 0; f < frames; f++)
      for (let s = 0; s < spp; s++)
        for (let i = 0; i < rows * cols; i++) px.copy(out, f * fb + (i * spp + s) * bpp, f * fb + (s * rows * cols + i) * bpp, f * fb + (s * rows * cols + i + 1) * bpp);
    px = out;
  }
  return { px, rows, cols, spp, bpp, frames };
}

async function blank(input: Buffer, script: string) {
  const o = await deidentify(input, { projectId: "rle", store, pixelScript: parsePixelScript(script), burnedIn: "ignore" });
  expect(o.kind, JSON.stringify(o.kind === "deidentified" ? "" : o)).toBe("deidentified");
  if (o.kind !== "deidentified") throw new Error("not de-identified");
  expect(o.blankedRegions).toBeGreaterThan(0);
  const out = encodedToBuffer(o.encoded);
  dcmdump(out); // DCMTK parses the output
  return out;
}

/** Pixels inside the rectangles are 0, every other pixel is unchanged. */
function checkBlanked(before: ReturnType<typeof native>, after: ReturnType<typeof native>, rects: [number, number, number, number][]) {
  const { rows, cols, spp, bpp, frames } = before;
  expect(after.px.length).toBe(before.px.length);
  let inside = 0;
  let outsideChanged = 0;
  for (let f = 0; f < frames; f++)
    for (let y = 0; y < rows; y++)
      for (let x = 0; x < cols; x++) {
        const i = ((f * rows + y) * cols + x) * spp * bpp;
        const a = after.px.subarray(i, i + spp * bpp);
        const inRect = rects.some(([rx, ry, w, h]) => {
          const x0 = rx < 0 ? cols + rx : rx;
          const y0 = ry < 0 ? rows + ry : ry;
          return x >= x0 && x < x0 + w && y >= y0 && y < y0 + h;
        });
        if (inRect) {
          inside++;
          expect(a.every((b) => b === 0)).toBe(true);
        } else if (!a.equals(before.px.subarray(i, i + spp * bpp))) outsideChanged++;
      }
  expect(inside).toBeGreaterThan(0);
  expect(outsideChanged).toBe(0);
  expect(after.px.equals(before.px)).toBe(false);
}

describe("RLE Lossless pixel blanking", () => {
  it("round-trips the codec for 8/16/32-bit planes, 1-3 samples", () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (const segs of [1, 2, 3, 6, 12]) {
      const rows = 13;
      const cols = 301; // > 128 and odd: long literal and replicate runs, odd segment lengths
      const planes = Array.from({ length: segs }, () => {
        const p = Buffer.alloc(rows * cols);
        for (let i = 0; i < p.length; i++) p[i] = rnd() < 0.5 ? p[i - 1] ?? 0 : Math.floor(rnd() * 4) * 60;
        return p;
      });
      const frame = encodeRleFrame(planes, rows, cols);
      expect(frame.readUInt32LE(0)).toBe(segs);
      const back = decodeRleFrame(frame, rows * cols, segs);
      back.forEach((p, i) => expect(p.equals(planes[i])).toBe(true));
    }
  });

  it("16-bit MONOCHROME2, 10 frames: same pixels as blanking the uncompressed equivalent", async () => {
    const rects: [number, number, number, number][] = [[10, 5, 20, 12], [-8, -6, 8, 6]];
    const script = '{ Modality.equals("MR") } (10,5,20,12) (-8,-6,8,6)';
    const rleOut = await blank(readSample("pydicom-data__emri_small_RLE.dcm"), script);
    const uncOut = await blank(readSample("pydicom-data__emri_small.dcm"), script);
    const dec = dcmtkDecode(rleOut);
    expect(dec.frames).toBe(10);
    expect(dec.px.equals(native(uncOut).px)).toBe(true);
    checkBlanked(dcmtkDecode(readSample("pydicom-data__emri_small_RLE.dcm")), dec, rects);
  });

  it("8-bit palette colour, 2 frames: same pixels as the uncompressed (big endian) equivalent", async () => {
    // Odd edges: a byte-order mistake on the big endian OW side would show.
    const rects: [number, number, number, number][] = [[0, 0, 800, 41], [701, 500, 150, 150]];
    const script = '{ Modality.equals("US") } (0,0,800,41) (701,500,150,150)';
    const rleOut = await blank(readSample("pydicom-data__OBXXXX1A_rle_2frame.dcm"), script);
    const uncOut = await blank(readSample("pydicom-data__OBXXXX1A_expb_2frame.dcm"), script);
    const dec = dcmtkDecode(rleOut);
    expect(dec.px.equals(native(uncOut).px)).toBe(true);
    checkBlanked(dcmtkDecode(readSample("pydicom-data__OBXXXX1A_rle_2frame.dcm")), dec, rects);
  });

  it("16-bit CT with a Basic Offset Table: offsets rebuilt, pixels blanked only inside", async () => {
    const input = readSample("dicomParser__CT0012.not_fragmented_bot_rle.dcm");
    const out = await blank(input, "{ true. } (100,100,64,32)");
    const p = parseDicom(new BufferSource(out));
    const el = findElement(p.dataset, 0x7fe00010)!;
    const frags = el.fragments!;
    expect(frags).toHaveLength(3);
    const bot = p.pixelSource.readAt(frags[0].offset, frags[0].length);
    expect(bot.length).toBe(8);
    expect(bot.readUInt32LE(0)).toBe(0);
    expect(bot.readUInt32LE(4)).toBe(frags[1].length + 8);
    checkBlanked(dcmtkDecode(input), dcmtkDecode(out), [[100, 100, 64, 32]]);
  });

  it("8-bit RGB (3 samples) encoded by DCMTK's dcmcrle from a real sample", async () => {
    const src = path.join(SAMPLES, "pydicom-data__SC_rgb.dcm");
    const rleFile = path.join(tmp, "sc_rgb_rle.dcm");
    execFileSync("/usr/bin/dcmcrle", [src, rleFile], { stdio: "pipe" });
    const script = "{ true. } (5,5,30,10) (-10,0,10,100)";
    const rects: [number, number, number, number][] = [[5, 5, 30, 10], [-10, 0, 10, 100]];
    const rleOut = await blank(readFileSync(rleFile), script);
    const uncOut = await blank(readFileSync(src), script);
    const dec = dcmtkDecode(rleOut);
    expect(dec.spp).toBe(3);
    expect(dec.px.equals(native(uncOut).px)).toBe(true);
    checkBlanked(native(readFileSync(src)), dec, rects);
  });
});
