// Native (uncompressed) grayscale frames decoded where they are fetched: the viewer's frame fetcher
// (a worker) turns each frame's bytes into the pixel values cornerstone3D's DICOM image loader
// would make of them, so the page's main thread only wraps them in an image. The loader itself
// sends every frame through its decoding worker and copies it twice on the way (~8 ms of the main
// thread per CT slice on two cores); for a native frame that work is a typed-array view, a min/max
// pass and the modality rescale.
//
// What comes out must equal the loader's own decoding (@cornerstonejs/dicom-image-loader
// decodeImageFrameWorker postProcessDecodedPixels, with preScale on, as its createImage asks):
// tests/lib/native-frame.test.ts compares the two on the shared samples. Frames this does not
// handle (compressed, colour, 1- or 32-bit, PET SUV and RT dose scaling, non-integer rescale) go
// the loader's way unchanged.

/** What decoding a frame needs to know of its instance (from its DICOM JSON metadata). */
export interface NativeFrameSpec {
  rows: number;
  columns: number;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  photometricInterpretation: "MONOCHROME1" | "MONOCHROME2";
  /** Present when the modality rescale is not the identity (the loader then scales, "preScale"). */
  rescale: { slope: number; intercept: number } | null;
  modality: string | null;
}

export type PixelArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Float32Array;

export interface DecodedNativeFrame {
  spec: NativeFrameSpec;
  pixelData: PixelArray;
  /** After the rescale, as the loader reports them (smallestPixelValue / largestPixelValue). */
  min: number;
  max: number;
  /** The loader's `preScale` of a rescaled frame (undefined when no rescale applies). */
  preScale?: { enabled: true; scaled: true; scalingParameters: { rescaleSlope: number; rescaleIntercept: number; modality: string | undefined } };
  decodeTimeInMS: number;
}

/** The transfer syntaxes whose frame bytes are the pixel values, little endian. */
export const NATIVE_LITTLE_ENDIAN = new Set(["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]);

type Json = Record<string, { Value?: unknown[] } | undefined>;

const num = (j: Json, tag: string): number | null => {
  const v = j[tag]?.Value?.[0];
  if (v == null || v === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
};
const text = (j: Json, tag: string): string | null => {
  const v = j[tag]?.Value?.[0];
  return v == null ? null : String(v).trim();
};

/** The spec of an instance's frames, or null when they are left to the loader. */
export function nativeFrameSpec(json: Json): NativeFrameSpec | null {
  const rows = num(json, "00280010");
  const columns = num(json, "00280011");
  const bitsAllocated = num(json, "00280100");
  const bitsStored = num(json, "00280101") ?? bitsAllocated;
  const pixelRepresentation = num(json, "00280103") ?? 0;
  const samples = num(json, "00280002") ?? 1;
  const photometric = text(json, "00280004");
  const modality = text(json, "00080060");
  if (!rows || !columns || rows < 1 || columns < 1) return null;
  if (bitsAllocated !== 8 && bitsAllocated !== 16) return null;
  if (bitsStored == null || bitsStored < 1 || bitsStored > bitsAllocated) return null;
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) return null;
  if (samples !== 1 || (photometric !== "MONOCHROME1" && photometric !== "MONOCHROME2")) return null;
  // The loader scales these with values from other modules (SUV, dose grid scaling).
  if (modality === "PT" || modality === "RTDOSE") return null;
  // A Modality LUT Sequence (the loader leaves the values as stored and shows through the LUT), or
  // functional groups (an enhanced instance's rescale may be per frame).
  if (json["00283000"] || json["52009229"] || json["52009230"]) return null;
  const slope = num(json, "00281053") ?? 1;
  const intercept = num(json, "00281052") ?? 0;
  // The loader would not scale a non-integer rescale where float textures are missing: left to it.
  if (!Number.isInteger(slope) || !Number.isInteger(intercept)) return null;
  return {
    rows, columns, bitsAllocated, bitsStored, pixelRepresentation, photometricInterpretation: photometric, modality,
    rescale: slope === 1 && intercept === 0 ? null : { slope, intercept },
  };
}

/** The smallest typed array that holds [min, max], as the loader picks it (getPixelDataTypeFromMinMax). */
function arrayTypeFor(min: number, max: number) {
  if (Number.isInteger(min) && Number.isInteger(max)) {
    if (min >= 0) {
      if (max <= 255) return Uint8Array;
      if (max <= 65535) return Uint16Array;
      if (max <= 4294967295) return Uint32Array;
    } else {
      if (min >= -128 && max <= 127) return Int8Array;
      if (min >= -32768 && max <= 32767) return Int16Array;
    }
  }
  return Float32Array;
}

/**
 * The pixel values of one native frame, as cornerstone3D's loader decodes them, or null when the
 * bytes are not what the spec says (another transfer syntax, another length): the loader then
 * decodes them itself and says what is wrong.
 */
export function decodeNativeFrame(bytes: Uint8Array, transferSyntaxUid: string, spec: NativeFrameSpec): DecodedNativeFrame | null {
  if (!NATIVE_LITTLE_ENDIAN.has(transferSyntaxUid)) return null;
  const start = Date.now();
  const count = spec.rows * spec.columns;
  if (bytes.length !== count * (spec.bitsAllocated / 8)) return null;
  let stored: Uint8Array | Uint16Array | Int16Array;
  if (spec.bitsAllocated === 8) stored = bytes;
  else {
    const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
    stored = spec.pixelRepresentation === 0 ? new Uint16Array(aligned.buffer, aligned.byteOffset, count) : new Int16Array(aligned.buffer, aligned.byteOffset, count);
  }
  // Signed values narrower than their allocation: the sign bit extended (as the loader does, in place).
  if (spec.pixelRepresentation === 1) {
    const shift = 32 - spec.bitsStored;
    for (let i = 0; i < count; i++) stored[i] = (stored[i]! << shift) >> shift;
  }
  let min = stored[0]!;
  let max = stored[0]!;
  for (let i = 1; i < count; i++) {
    const v = stored[i]!;
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  if (!spec.rescale) {
    const out = new (arrayTypeFor(min, max))(count);
    out.set(stored);
    return { spec, pixelData: out, min, max, decodeTimeInMS: Date.now() - start };
  }
  const { slope, intercept } = spec.rescale;
  const scaledMin = slope * min + intercept;
  const scaledMax = slope * max + intercept;
  const out = new (arrayTypeFor(scaledMin, scaledMax))(count);
  out.set(stored);
  for (let i = 0; i < count; i++) out[i] = out[i]! * slope + intercept;
  return {
    spec, pixelData: out, min: scaledMin, max: scaledMax, decodeTimeInMS: Date.now() - start,
    preScale: { enabled: true, scaled: true, scalingParameters: { rescaleSlope: slope, rescaleIntercept: intercept, modality: spec.modality ?? undefined } },
  };
}
