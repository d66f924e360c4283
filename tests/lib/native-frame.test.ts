// lib/viewer/native-frame: native grayscale frames decoded as cornerstone3D's DICOM image loader
// decodes them — compared with the loader's own decoding (its worker's decodeImageFrame, then the
// re-typing its createImage does) on every shared sample it applies to, and on made-up frames for
// the cases the samples lack.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import dcmjs from "dcmjs";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeNativeFrame, nativeFrameSpec, NATIVE_LITTLE_ENDIAN, type NativeFrameSpec } from "@/lib/viewer/native-frame";
import { SAMPLES_DIR } from "@/lib/samples";

type LoaderFrame = { pixelData: ArrayLike<number> & { constructor: { name: string } }; smallestPixelValue: number; largestPixelValue: number; preScale?: unknown };
type DecodeImageFrame = (imageFrame: Record<string, unknown>, transferSyntax: string, pixelData: Uint8Array, decodeConfig: object, options: object) => Promise<LoaderFrame>;
let loaderDecode: DecodeImageFrame;

beforeAll(async () => {
  // The loader's worker module, by path (the package does not export it); it only exposes itself inside a worker.
  const file = path.resolve(import.meta.dirname, "../../node_modules/@cornerstonejs/dicom-image-loader/dist/esm/decodeImageFrameWorker.js");
  loaderDecode = ((await import(file)) as { decodeImageFrame: DecodeImageFrame }).decodeImageFrame;
});

/** The smallest typed array for [min, max], as the loader's createImage re-types a decoded frame (setPixelDataType). */
function loaderArrayType(min: number, max: number): string {
  if (Number.isInteger(min) && Number.isInteger(max)) {
    if (min >= 0) return max <= 255 ? "Uint8Array" : max <= 65535 ? "Uint16Array" : "Uint32Array";
    if (min >= -128 && max <= 127) return "Int8Array";
    if (min >= -32768 && max <= 32767) return "Int16Array";
  }
  return "Float32Array";
}

/** What the loader makes of a frame: decodeImageFrame with preScale as createImage sets it, then createImage's re-typing. */
async function viaLoader(bytes: Uint8Array, transferSyntax: string, spec: NativeFrameSpec) {
  const imageFrame = { rows: spec.rows, columns: spec.columns, bitsAllocated: spec.bitsAllocated, bitsStored: spec.bitsStored, pixelRepresentation: spec.pixelRepresentation, samplesPerPixel: 1, photometricInterpretation: spec.photometricInterpretation };
  const preScale = spec.rescale
    ? { enabled: true, scalingParameters: { rescaleSlope: spec.rescale.slope, rescaleIntercept: spec.rescale.intercept, modality: spec.modality ?? undefined } }
    : { enabled: false };
  const f = await loaderDecode(imageFrame, transferSyntax, bytes.slice(), {}, { preScale, allowFloatRendering: true });
  const type = loaderArrayType(f.smallestPixelValue, f.largestPixelValue);
  const Typed = globalThis[type as "Int16Array"] as unknown as new (a: ArrayLike<number>) => ArrayLike<number>;
  return { type, values: new Typed(f.pixelData), min: f.smallestPixelValue, max: f.largestPixelValue, preScale: f.preScale };
}

function expectSameAsLoader(mine: ReturnType<typeof decodeNativeFrame>, loader: Awaited<ReturnType<typeof viaLoader>>) {
  expect(mine).not.toBeNull();
  expect(mine!.pixelData.constructor.name).toBe(loader.type);
  expect(mine!.min).toBe(loader.min);
  expect(mine!.max).toBe(loader.max);
  expect(mine!.preScale).toEqual(loader.preScale);
  expect(mine!.pixelData.length).toBe(loader.values.length);
  // Compared whole (a typed array of up to millions of values: one buffer comparison).
  expect(Buffer.from(mine!.pixelData.buffer, mine!.pixelData.byteOffset, mine!.pixelData.byteLength).equals(Buffer.from((loader.values as unknown as Uint8Array).buffer))).toBe(true);
}

/** A shared sample's first frame, its transfer syntax and its metadata as DICOM JSON (dcmjs's dictionary has that shape). */
function sampleFrame(file: string) {
  const buf = readFileSync(path.join(SAMPLES_DIR, file));
  const parsed = dcmjs.data.DicomMessage.readFile(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), { untilTag: undefined } as never);
  const json = parsed.dict as Record<string, { Value?: unknown[] }>;
  const ts = String(parsed.meta["00020010"]?.Value?.[0] ?? "");
  const spec = nativeFrameSpec(json);
  const pixels = json["7FE00010"]?.Value?.[0] as ArrayBuffer | undefined;
  if (!spec || !pixels) return { spec, ts, bytes: null };
  const frameBytes = spec.rows * spec.columns * (spec.bitsAllocated / 8);
  return { spec, ts, bytes: new Uint8Array(pixels, 0, Math.min(frameBytes, pixels.byteLength)) };
}

describe("native frames decoded as the DICOM image loader decodes them", () => {
  it("equals the loader on every shared sample with native grayscale pixel data", async () => {
    dcmjs.log.setLevel("error");
    const compared: string[] = [];
    for (const file of readdirSync(SAMPLES_DIR).filter((f) => f.endsWith(".dcm")).sort()) {
      let sample: ReturnType<typeof sampleFrame>;
      try {
        sample = sampleFrame(file);
      } catch {
        continue; // dcmjs cannot read it (the malformed samples): nothing to compare
      }
      if (!sample.spec || !sample.bytes || !NATIVE_LITTLE_ENDIAN.has(sample.ts)) continue;
      const mine = decodeNativeFrame(sample.bytes, sample.ts, sample.spec);
      expectSameAsLoader(mine, await viaLoader(sample.bytes, sample.ts, sample.spec));
      compared.push(`${file} ${sample.spec.bitsAllocated}/${sample.spec.bitsStored} pr${sample.spec.pixelRepresentation} ${sample.spec.photometricInterpretation}${sample.spec.rescale ? ` rescale ${sample.spec.rescale.slope},${sample.spec.rescale.intercept}` : ""}`);
    }
    // The samples include signed and unsigned 16-bit, 8-bit, MONOCHROME1 and rescaled CT.
    expect(compared.length).toBeGreaterThanOrEqual(15);
    expect(compared.some((c) => c.includes("pr1"))).toBe(true);
    expect(compared.some((c) => c.includes("MONOCHROME1"))).toBe(true);
    expect(compared.some((c) => c.includes(" 8/8 "))).toBe(true);
    expect(compared.some((c) => c.includes("rescale 1,-1024"))).toBe(true);
  });

  const base: NativeFrameSpec = { rows: 2, columns: 3, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 0, photometricInterpretation: "MONOCHROME2", rescale: null, modality: "CT" };
  const bytesOf = (a: Uint16Array | Int16Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

  it("extends the sign of values narrower than their allocation, then rescales", async () => {
    const spec = { ...base, bitsStored: 12, pixelRepresentation: 1 as const, rescale: { slope: 2, intercept: -100 } };
    // 12-bit two's complement in 16 bits: 0x0FFF is -1, 0x0800 is -2048.
    const bytes = bytesOf(new Int16Array([0x0fff, 0x0800, 0x07ff, 0, 1, 5]));
    const mine = decodeNativeFrame(bytes, "1.2.840.10008.1.2.1", spec);
    expect(Array.from(mine!.pixelData)).toEqual([-102, -4196, 3994, -100, -98, -90]);
    expectSameAsLoader(mine, await viaLoader(bytes, "1.2.840.10008.1.2.1", spec));
  });

  it("picks the loader's array type from the rescaled range (unsigned CT stored values → Int16)", async () => {
    const spec = { ...base, bitsStored: 12, rescale: { slope: 1, intercept: -1024 } };
    const bytes = bytesOf(new Uint16Array([0, 1024, 4095, 2000, 3, 7]));
    const mine = decodeNativeFrame(bytes, "1.2.840.10008.1.2", spec);
    expect(mine!.pixelData).toBeInstanceOf(Int16Array);
    expect([mine!.min, mine!.max]).toEqual([-1024, 3071]);
    expectSameAsLoader(mine, await viaLoader(bytes, "1.2.840.10008.1.2", spec));
    // Without a rescale, a narrow range is held in bytes, as the loader does.
    const small = bytesOf(new Uint16Array([0, 10, 255, 3, 4, 5]));
    const plain = decodeNativeFrame(small, "1.2.840.10008.1.2.1", base);
    expect(plain!.pixelData).toBeInstanceOf(Uint8Array);
    expect(plain!.preScale).toBeUndefined();
    expectSameAsLoader(plain, await viaLoader(small, "1.2.840.10008.1.2.1", base));
  });

  it("reads a frame that does not start on an even byte", async () => {
    const spec = { ...base, rows: 1, columns: 2 };
    const buf = new Uint8Array(5);
    buf.set([0x34, 0x12, 0x78, 0x56], 1);
    const mine = decodeNativeFrame(buf.subarray(1), "1.2.840.10008.1.2.1", spec);
    expect(Array.from(mine!.pixelData)).toEqual([0x1234, 0x5678]);
  });

  it("leaves to the loader what it does not decode like it", () => {
    const bytes = bytesOf(new Uint16Array(6));
    expect(decodeNativeFrame(bytes, "1.2.840.10008.1.2.4.50", base)).toBeNull(); // compressed
    expect(decodeNativeFrame(bytes, "1.2.840.10008.1.2.2", base)).toBeNull(); // big endian
    expect(decodeNativeFrame(bytes.subarray(0, 10), "1.2.840.10008.1.2.1", base)).toBeNull(); // not the spec's length
    const json = (over: Record<string, unknown[]>) => ({
      "00280010": { Value: [2] }, "00280011": { Value: [3] }, "00280100": { Value: [16] }, "00280101": { Value: [12] }, "00280103": { Value: [0] },
      "00280002": { Value: [1] }, "00280004": { Value: ["MONOCHROME2"] }, "00080060": { Value: ["CT"] },
      ...Object.fromEntries(Object.entries(over).map(([k, v]) => [k, { Value: v }])),
    });
    expect(nativeFrameSpec(json({}))).toMatchObject({ rows: 2, columns: 3, bitsAllocated: 16, bitsStored: 12, rescale: null });
    expect(nativeFrameSpec(json({ "00281053": ["1"], "00281052": ["-1024"] }))!.rescale).toEqual({ slope: 1, intercept: -1024 });
    expect(nativeFrameSpec(json({ "00280004": ["RGB"], "00280002": [3] }))).toBeNull();
    expect(nativeFrameSpec(json({ "00080060": ["PT"] }))).toBeNull();
    expect(nativeFrameSpec(json({ "00080060": ["RTDOSE"] }))).toBeNull();
    expect(nativeFrameSpec(json({ "00281053": [0.5] }))).toBeNull();
    expect(nativeFrameSpec(json({ "00280100": [32], "00280101": [32] }))).toBeNull();
    expect(nativeFrameSpec(json({ "00280100": [1], "00280101": [1] }))).toBeNull();
    expect(nativeFrameSpec(json({ "00280010": [] }))).toBeNull();
  });
});
