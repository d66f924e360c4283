// Previews of every compressed transfer syntax among the shared samples (#21 §5): each renders
// to a PNG of the image's size that is not blank; a lossless file renders exactly like its
// uncompressed twin, a lossy one nearly so; 1-bit SEG frames render (bit-packed); what cannot
// be rendered says why.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { PNG } from "pngjs";
import { parseDicom } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { pixelInfo } from "@/lib/dicomweb/frames";
import { renderable, renderFramePngAsync, RenderError } from "@/lib/dicomweb/render";
import { codecFor } from "@/lib/dicom/codecs";
import { SAMPLES_DIR } from "@/lib/samples";

const manifest = readFileSync(path.join(SAMPLES_DIR, "MANIFEST.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"));
const open = (name: string) => {
  const file = parseDicom(new BufferSource(readFileSync(path.join(SAMPLES_DIR, name))));
  return { file, info: pixelInfo(file)! };
};
const png = async (name: string, frame = 1, viewport?: { width: number; height: number }) => {
  const { file, info } = open(name);
  return PNG.sync.read(await renderFramePngAsync(file, info, frame, viewport ? { viewport } : {}));
};
/** Distinct grey/colour values in the image: a blank render has one. */
const distinct = (p: PNG) => new Set(Array.from({ length: p.width * p.height }, (_, i) => p.data.readUInt32BE(i * 4))).size;
const meanAbsDiff = (a: PNG, b: PNG) => {
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d += Math.abs(a.data[i]! - b.data[i]!);
  return d / a.data.length;
};

// Every compressed or 1-bit image among the samples, with the syntax it is stored in.
const images = manifest
  .map((r) => ({ name: r[0]!, syntax: r[7]! }))
  .filter((r) => {
    try {
      const { info } = open(r.name);
      return info && (info.encapsulated || info.bitsAllocated === 1);
    } catch {
      return false;
    }
  });

describe("previews of compressed and 1-bit images", () => {
  it("finds every syntax the issue names among the samples", () => {
    const syntaxes = new Set(images.map((i) => i.syntax));
    for (const s of ["JPEG Baseline (Process 1)", "JPEG Extended (Process 2 and 4)", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
      "JPEG-LS Lossless Image Compression", "JPEG-LS Lossy (Near-Lossless) Image Compression", "JPEG 2000 Image Compression", "JPEG 2000 Image Compression (Lossless Only)", "RLE Lossless", "HTJ2K Lossless"]) {
      expect(syntaxes, s).toContain(s);
    }
    expect(images.filter((i) => open(i.name).info.bitsAllocated === 1).length).toBeGreaterThanOrEqual(2);
  });

  it.each(images.map((i) => [i.name, i.syntax]))("%s (%s) renders to a non-blank PNG of its size, or says why not", async (name) => {
    const { info } = open(name);
    if (info.encapsulated && info.transferSyntaxUid !== "1.2.840.10008.1.2.5" && !codecFor(info.transferSyntaxUid)) {
      // e.g. Deflated Image Frame Compression: not decoded, and the reason names the syntax.
      expect(renderable(info)).toMatch(/compressed in transfer syntax 1\.2\.840\.10008\.1\.2\.8\.1, which Atrium does not decode/);
      const { file } = open(name);
      await expect(renderFramePngAsync(file, info, 1)).rejects.toThrow(RenderError);
      return;
    }
    const p = await png(name);
    expect([p.width, p.height]).toEqual([info.columns, info.rows]);
    // A segmentation frame may be empty (sparse dots): its frames are checked below.
    if (info.bitsAllocated !== 1) expect(distinct(p)).toBeGreaterThan(1);
    // A thumbnail of it too (the Browse tab's 128 px box).
    const t = await png(name, Math.ceil(info.numberOfFrames / 2), { width: 128, height: 128 });
    expect(Math.max(t.width, t.height)).toBe(128);
  }, 60_000);

  it("renders lossless files exactly like their uncompressed twins, and lossy ones nearly so", async () => {
    const pairs: [string, string, number][] = [
      ["pydicom-data__US1_J2KR.dcm", "pydicom-data__US1_UNCR.dcm", 0],
      ["pydicom-data__emri_small_jpeg_ls_lossless.dcm", "pydicom-data__emri_small.dcm", 0],
      ["pydicom-data__emri_small_RLE.dcm", "pydicom-data__emri_small.dcm", 0],
      ["pydicom-data__MR2_J2KI.dcm", "pydicom-data__MR2_UNCR.dcm", 2],
    ];
    for (const [compressed, plain, tolerance] of pairs) {
      const a = await png(compressed);
      const b = await png(plain);
      expect([a.width, a.height], compressed).toEqual([b.width, b.height]);
      expect(meanAbsDiff(a, b), compressed).toBeLessThanOrEqual(tolerance);
    }
  }, 60_000);

  it("renders every frame of a 1-bit SEG (bit-packed frames one after another)", async () => {
    const name = "highdicom__seg_image_ct_binary_overlap.dcm";
    const { info } = open(name);
    expect(info.bitsAllocated).toBe(1);
    for (let f = 1; f <= info.numberOfFrames; f++) {
      const p = await png(name, f);
      const on = Array.from({ length: p.width * p.height }, (_, i) => p.data[i * 4]!).filter((v) => v === 255).length;
      expect(on, `frame ${f}`).toBeGreaterThan(0);
    }
  });
});
