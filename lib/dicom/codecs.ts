// Decoding compressed frames on the server (previews, thumbnails, rendered frames) with the
// maintained decoders cornerstone3D itself uses, all present through @cornerstonejs/dicom-image-loader:
//   JPEG baseline / extended (8-bit)   @cornerstonejs/codec-libjpeg-turbo-8bit (wasm)
//   JPEG extended (12-bit)             dicom-image-loader's JpegImage (JS, what cornerstone uses for it)
//   JPEG lossless (process 14, SV1)    @cornerstonejs/jpeg-lossless-decoder-js (JS)
//   JPEG-LS lossless / near-lossless   @cornerstonejs/codec-charls (wasm)
//   JPEG 2000 (lossless / lossy)       @cornerstonejs/codec-openjpeg (wasm)
//   HTJ2K                              @cornerstonejs/codec-openjph (wasm)
// RLE Lossless and native syntaxes are decoded by lib/dicom/rle and lib/dicomweb/frames. A frame
// decodes to little-endian native samples (interleaved for colour), which the renderer reads like
// an uncompressed frame. Each wasm module is loaded once, on first use.
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

export type CodecName = "jpeg-baseline" | "jpeg-lossless" | "jpeg-ls" | "jpeg2000" | "htj2k";

const SYNTAXES: Record<string, CodecName> = {
  "1.2.840.10008.1.2.4.50": "jpeg-baseline",
  "1.2.840.10008.1.2.4.51": "jpeg-baseline",
  "1.2.840.10008.1.2.4.57": "jpeg-lossless",
  "1.2.840.10008.1.2.4.70": "jpeg-lossless",
  "1.2.840.10008.1.2.4.80": "jpeg-ls",
  "1.2.840.10008.1.2.4.81": "jpeg-ls",
  "1.2.840.10008.1.2.4.90": "jpeg2000",
  "1.2.840.10008.1.2.4.91": "jpeg2000",
  "1.2.840.10008.1.2.4.201": "htj2k",
  "1.2.840.10008.1.2.4.202": "htj2k",
  "1.2.840.10008.1.2.4.203": "htj2k",
};

/** The decoder for a compressed transfer syntax, or null (Atrium cannot decode it). */
export function codecFor(transferSyntaxUid: string): CodecName | null {
  return SYNTAXES[transferSyntaxUid] ?? null;
}

export interface FrameShape {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  pixelRepresentation: number;
}

export interface DecodedFrame {
  /** Little-endian samples, bitsAllocated/8 bytes each, interleaved (pixel by pixel) for colour. */
  bytes: Buffer;
  /** Colour frames come out of the JPEG decoders as RGB whatever the header said (YBR_FULL_422…). */
  photometricInterpretation?: string;
}

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CodecError";
  }
}

// The emscripten decoders are CommonJS factories that find their .wasm beside them (Node's fs).
// The require is taken from Node at run time, out of the bundler's sight: webpack would otherwise
// turn `req(name)` with a computed name into a context module over this directory.
const nodeModule = (process as unknown as { getBuiltinModule?: (id: string) => { createRequire: typeof createRequire } }).getBuiltinModule?.("node:module");
const req = (nodeModule?.createRequire ?? createRequire)(import.meta.url);
type Factory = (opts?: { locateFile?: (f: string) => string; print?: (s: string) => void; printErr?: (s: string) => void }) => Promise<Record<string, new () => WasmDecoder>>;
interface WasmDecoder {
  getEncodedBuffer(n: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean };
  delete?(): void;
}

const modules = new Map<string, Promise<Record<string, new () => WasmDecoder>>>();
function wasm(pkg: string, js: string, wasmFile: string): Promise<Record<string, new () => WasmDecoder>> {
  let m = modules.get(pkg);
  if (!m) {
    const factory = req(`${pkg}/${js}`) as Factory;
    const wasmPath = req.resolve(`${pkg}/${wasmFile}`);
    // OpenJPEG prints "[INFO] …" per frame: keep the decoders quiet (their errors are thrown).
    m = factory({ locateFile: (f) => (f.endsWith(".wasm") ? wasmPath : f), print: () => undefined, printErr: () => undefined });
    modules.set(pkg, m);
  }
  return m;
}

async function decodeWasm(module: Record<string, new () => WasmDecoder>, className: string, data: Uint8Array): Promise<{ out: Uint8Array; info: ReturnType<WasmDecoder["getFrameInfo"]> }> {
  const Decoder = module[className];
  if (!Decoder) throw new CodecError(`decoder ${className} missing from its module`);
  const d = new Decoder();
  try {
    d.getEncodedBuffer(data.length).set(data);
    d.decode();
    const info = d.getFrameInfo();
    // Copy out of the wasm heap before the decoder is freed.
    return { out: Uint8Array.from(d.getDecodedBuffer()), info };
  } finally {
    d.delete?.();
  }
}

interface JpegImageLike {
  parse(data: Uint8Array): void;
  colorTransform: boolean;
  getData(w: number, h: number): Uint8Array;
  getData16(w: number, h: number): Uint16Array;
}
let jpegImage: Promise<new () => JpegImageLike> | undefined;
/** 12-bit JPEG extended: libjpeg-turbo-8bit cannot; dicom-image-loader decodes it with this JS decoder. */
function loadJpegImage(): Promise<new () => JpegImageLike> {
  // Not in the package's exports map: loaded by its path inside the installed package.
  const file = path.join(path.dirname(req.resolve("@cornerstonejs/dicom-image-loader/package.json")), "dist/esm/codecs/jpeg.js");
  jpegImage ??= import(/* webpackIgnore: true */ pathToFileURL(file).href).then((m: { default: new () => JpegImageLike }) => m.default);
  return jpegImage;
}

/** Frames per codec, for the bench and the logs. */
export const decodeCounts: Record<CodecName, number> = { "jpeg-baseline": 0, "jpeg-lossless": 0, "jpeg-ls": 0, jpeg2000: 0, htj2k: 0 };

/**
 * Decodes one compressed frame (its fragments concatenated) to native little-endian samples.
 * Throws CodecError with what went wrong when the decoder refuses the data.
 */
export async function decodeFrame(transferSyntaxUid: string, data: Uint8Array, shape: FrameShape): Promise<DecodedFrame> {
  const codec = codecFor(transferSyntaxUid);
  if (!codec) throw new CodecError(`no decoder for transfer syntax ${transferSyntaxUid}`);
  let out: Uint8Array;
  let components = shape.samplesPerPixel;
  let width = shape.columns;
  let height = shape.rows;
  let bits = shape.bitsAllocated;
  try {
    if (codec === "jpeg-baseline" && shape.bitsAllocated > 8) {
      const JpegImage = await loadJpegImage();
      const j = new JpegImage();
      j.parse(data);
      j.colorTransform = false;
      const d = j.getData16(shape.columns, shape.rows);
      out = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      bits = 16;
    } else if (codec === "jpeg-lossless") {
      const { Decoder } = req("@cornerstonejs/jpeg-lossless-decoder-js") as { Decoder: new () => { decode(b: ArrayBuffer, off: number, len: number, bytesOut: number): ArrayBufferView } };
      const copy = Uint8Array.from(data);
      const decoded = new Decoder().decode(copy.buffer, 0, copy.length, shape.bitsAllocated <= 8 ? 1 : 2);
      out = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
    } else {
      const [pkg, js, wasmFile, cls] =
        codec === "jpeg-baseline" ? ["@cornerstonejs/codec-libjpeg-turbo-8bit", "decodewasmjs", "decodewasm", "JPEGDecoder"]
        : codec === "jpeg-ls" ? ["@cornerstonejs/codec-charls", "decodewasmjs", "decodewasm", "JpegLSDecoder"]
        : codec === "jpeg2000" ? ["@cornerstonejs/codec-openjpeg", "decodewasmjs", "decodewasm", "J2KDecoder"]
        : ["@cornerstonejs/codec-openjph", "wasmjs", "wasm", "HTJ2KDecoder"];
      const r = await decodeWasm(await wasm(pkg, js, wasmFile), cls, data);
      out = r.out;
      width = r.info.width;
      height = r.info.height;
      components = r.info.componentCount;
      bits = r.info.bitsPerSample <= 8 ? 8 : 16;
    }
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError(`the ${codec} decoder refused the frame (${typeof e === "number" ? `code ${e}` : (e as Error)?.message ?? String(e)})`);
  }
  decodeCounts[codec]++;
  if (width !== shape.columns || height !== shape.rows || components !== shape.samplesPerPixel) {
    throw new CodecError(`the frame decodes to ${width}×${height}×${components}, but the header says ${shape.columns}×${shape.rows}×${shape.samplesPerPixel}`);
  }
  const samples = width * height * components;
  const want = shape.bitsAllocated / 8;
  let bytes: Buffer;
  const have = bits / 8;
  if (have === want) bytes = Buffer.from(out.buffer, out.byteOffset, samples * want);
  else if (have === 1 && want === 2) {
    // An 8-bit stream in a 16-bit allocation (e.g. a JPEG baseline of 12-bit stored data decoded as 8).
    bytes = Buffer.alloc(samples * 2);
    for (let i = 0; i < samples; i++) bytes.writeUInt16LE(out[i]!, i * 2);
  } else {
    throw new CodecError(`the frame decodes to ${bits}-bit samples, but the header allocates ${shape.bitsAllocated} bits`);
  }
  if (bytes.length < samples * want) throw new CodecError("the decoder returned fewer samples than the header says");
  // libjpeg-turbo converts YCbCr to RGB; OpenJPEG and OpenJPH undo the JPEG 2000 colour
  // transform (YBR_ICT / YBR_RCT). JPEG lossless and JPEG-LS give the samples as stored.
  const toRgb = components === 3 && (codec === "jpeg-baseline" || codec === "jpeg2000" || codec === "htj2k");
  return { bytes, ...(toRgb ? { photometricInterpretation: "RGB" } : {}) };
}
