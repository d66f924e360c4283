// Frames of a stored instance for WADO-RS (PS3.18 §10.4.1.1.4 Frame Pixel Data): native pixel data
// is cut into frames of Rows × Columns × Samples × BitsAllocated/8 bytes (big endian files swapped
// to little endian, as application/octet-stream frames are); encapsulated pixel data gives each
// frame's compressed bitstream, found by the Basic Offset Table, the Extended Offset Table, one
// fragment per frame, or JPEG/JPEG 2000 start markers.
import { findElement, numberValue, type Element, type ParsedFile } from "@/lib/dicom/parse";
import { TAG } from "@/lib/dicom/dictionary";

export class FrameError extends Error {
  constructor(
    readonly status: 400 | 404 | 406 | 500,
    message: string,
  ) {
    super(message);
    this.name = "FrameError";
  }
}

/** The media type of a compressed frame in its stored transfer syntax (PS3.18 Table 8.7.3-2). */
export function frameMediaType(transferSyntaxUid: string): string {
  switch (transferSyntaxUid) {
    case "1.2.840.10008.1.2.4.50":
    case "1.2.840.10008.1.2.4.51":
    case "1.2.840.10008.1.2.4.57":
    case "1.2.840.10008.1.2.4.70":
      return "image/jpeg";
    case "1.2.840.10008.1.2.4.80":
    case "1.2.840.10008.1.2.4.81":
      return "image/jls";
    case "1.2.840.10008.1.2.4.90":
    case "1.2.840.10008.1.2.4.91":
      return "image/jp2";
    case "1.2.840.10008.1.2.4.201":
    case "1.2.840.10008.1.2.4.202":
    case "1.2.840.10008.1.2.4.203":
      return "image/jphc";
    case "1.2.840.10008.1.2.5":
      return "image/dicom-rle";
    default:
      return "application/octet-stream";
  }
}

export interface PixelInfo {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  planarConfiguration: number;
  numberOfFrames: number;
  photometricInterpretation: string;
  transferSyntaxUid: string;
  encapsulated: boolean;
  littleEndian: boolean;
  pixelData: Element;
}

export function pixelInfo(file: ParsedFile): PixelInfo | null {
  const ds = file.dataset;
  const le = file.syntax.littleEndian;
  const pix = findElement(ds, TAG.PixelData) ?? findElement(ds, 0x7fe00008) ?? findElement(ds, 0x7fe00009);
  if (!pix) return null;
  const str = (tag: number) => {
    const el = findElement(ds, tag);
    return el && !el.items ? el.buf.toString("latin1", el.valueOffset, el.valueOffset + el.length).replace(/[\0 ]+$/, "").trim() : "";
  };
  return {
    rows: numberValue(ds, TAG.Rows, le) ?? 0,
    columns: numberValue(ds, TAG.Columns, le) ?? 0,
    samplesPerPixel: numberValue(ds, TAG.SamplesPerPixel, le) ?? 1,
    bitsAllocated: numberValue(ds, TAG.BitsAllocated, le) ?? 0,
    bitsStored: numberValue(ds, 0x00280101, le) ?? numberValue(ds, TAG.BitsAllocated, le) ?? 0,
    pixelRepresentation: numberValue(ds, 0x00280103, le) ?? 0,
    planarConfiguration: numberValue(ds, TAG.PlanarConfiguration, le) ?? 0,
    numberOfFrames: Math.max(1, numberValue(ds, TAG.NumberOfFrames, le) ?? 1),
    photometricInterpretation: str(TAG.PhotometricInterpretation),
    transferSyntaxUid: file.syntax.transferSyntaxUID,
    encapsulated: Boolean(pix.fragments) || file.syntax.encapsulated,
    littleEndian: le,
    pixelData: pix,
  };
}

function swapped(buf: Buffer, wordBytes: number): Buffer {
  const out = Buffer.from(buf);
  if (wordBytes === 2) out.swap16();
  else if (wordBytes === 4) out.swap32();
  else if (wordBytes === 8) out.swap64();
  return out;
}

/** Bytes of one native frame (bit-packed 1-bit frames are not byte aligned: refused). */
export function nativeFrameBytes(info: PixelInfo): number {
  return info.rows * info.columns * info.samplesPerPixel * (info.bitsAllocated / 8);
}

/** The most frame numbers one frames/{list} request may name (repeats included). */
export const MAX_FRAME_LIST = 1000;

/**
 * The frame numbers a request names: "1", "1,3,5" (1-based), each at most numberOfFrames, in the
 * order asked with repeats removed (a frame is sent once however often it is named). A list of more
 * than MAX_FRAME_LIST entries is refused (400) before anything is read.
 */
export function parseFrameList(raw: string, numberOfFrames: number): number[] {
  const parts = raw.split(/,|%2C/i);
  if (parts.length > MAX_FRAME_LIST) {
    throw new FrameError(400, `A frame list names at most ${MAX_FRAME_LIST} frames; this one names ${parts.length}. Ask for the frames in several requests, or retrieve the instance whole.`);
  }
  const out: number[] = [];
  const seen = new Set<number>();
  for (const p of parts) {
    if (!/^\d{1,9}$/.test(p) || Number(p) < 1) throw new FrameError(400, "Frame numbers are positive integers separated by commas, e.g. frames/1,2,3.");
    const n = Number(p);
    if (n > numberOfFrames) throw new FrameError(404, `The instance has ${numberOfFrames} frame(s); frame ${n} does not exist.`);
    if (seen.has(n)) continue;
    seen.add(n);
    out.push(n);
  }
  return out;
}

/** Encapsulated frames: each frame's fragments, as [offset, length] ranges in the source. */
function encapsulatedFrameRanges(file: ParsedFile, info: PixelInfo): Array<Array<{ offset: number; length: number }>> {
  const frags = info.pixelData.fragments ?? [];
  const bot = frags[0];
  const data = frags.slice(1);
  const n = info.numberOfFrames;
  if (!data.length) throw new FrameError(500, "The stored pixel data has no fragments.");
  // Extended Offset Table
  const eot = findElement(file.dataset, 0x7fe00001);
  if (eot && !eot.inSource && eot.length >= 8 * n) {
    const starts: number[] = [];
    for (let i = 0; i < n; i++) starts.push(Number(eot.buf.readBigUInt64LE(eot.valueOffset + 8 * i)));
    return groupByOffsets(data, starts);
  }
  if (n === 1) return [data];
  if (data.length === n) return data.map((f) => [f]);
  if (bot && bot.length >= 4 * n) {
    const b = file.pixelSource.readAt(bot.offset, bot.length);
    const starts: number[] = [];
    for (let i = 0; i < n; i++) starts.push(b.readUInt32LE(4 * i));
    return groupByOffsets(data, starts);
  }
  // No offset table: a frame starts at a fragment beginning with a JPEG SOI or a JPEG 2000 codestream/box.
  const frames: Array<Array<{ offset: number; length: number }>> = [];
  for (const f of data) {
    const head = file.pixelSource.readAt(f.offset, 12);
    const starts = (head[0] === 0xff && (head[1] === 0xd8 || head[1] === 0x4f)) || head.toString("latin1", 4, 8) === "jP  ";
    if (starts || frames.length === 0) frames.push([f]);
    else frames[frames.length - 1]!.push(f);
  }
  if (frames.length !== n) throw new FrameError(500, `The stored pixel data has ${data.length} fragments and no offset table; Atrium cannot tell its ${n} frames apart.`);
  return frames;
}

function groupByOffsets(data: Array<{ offset: number; length: number }>, starts: number[]): Array<Array<{ offset: number; length: number }>> {
  // Offsets are relative to the first fragment's item tag; each fragment item is 8 + length bytes.
  const pos: number[] = [];
  let p = 0;
  for (const f of data) {
    pos.push(p);
    p += 8 + f.length;
  }
  return starts.map((s, i) => {
    const end = i + 1 < starts.length ? starts[i + 1]! : Infinity;
    const frags = data.filter((_, k) => pos[k]! >= s && pos[k]! < end);
    if (!frags.length) throw new FrameError(500, "The stored pixel data's offset table does not match its fragments.");
    return frags;
  });
}

/** The bytes of frame `n` (1-based): native frames little endian; encapsulated frames as stored. */
export function frameBytes(file: ParsedFile, info: PixelInfo, n: number): Buffer {
  if (n < 1 || n > info.numberOfFrames) throw new FrameError(404, `The instance has ${info.numberOfFrames} frame(s); frame ${n} does not exist.`);
  if (info.encapsulated) {
    const ranges = encapsulatedFrameRanges(file, info)[n - 1]!;
    return Buffer.concat(ranges.map((r) => file.pixelSource.readAt(r.offset, r.length)));
  }
  if (info.bitsAllocated % 8 !== 0 || info.bitsAllocated === 0 || !info.rows || !info.columns) {
    throw new FrameError(406, `Frames of ${info.bitsAllocated}-bit pixel data are not byte aligned; retrieve the whole instance instead.`);
  }
  const size = nativeFrameBytes(info);
  const pix = info.pixelData;
  if ((n - 1) * size + size > pix.length) throw new FrameError(500, "The stored pixel data is shorter than its Rows, Columns and Number of Frames say.");
  const start = pix.valueOffset + (n - 1) * size;
  const raw = pix.inSource ? file.pixelSource.readAt(start, size) : pix.buf.subarray(start, start + size);
  if (info.littleEndian) return Buffer.from(raw);
  const fileVr = pix.fileVr ?? pix.vr;
  // Big endian OW: 16-bit words are swapped; 8-bit samples in OW are byte-swapped pairs.
  return fileVr === "OW" || info.bitsAllocated > 8 ? swapped(raw, info.bitsAllocated > 8 ? info.bitsAllocated / 8 : 2) : Buffer.from(raw);
}

/** A non-pixel binary value as little endian bytes (bulkdata). */
export function bulkValueBytes(el: Element, littleEndian: boolean): Buffer {
  const raw = el.buf.subarray(el.valueOffset, el.valueOffset + el.length);
  if (littleEndian) return Buffer.from(raw);
  const word = el.vr === "OW" ? 2 : el.vr === "OF" || el.vr === "OL" ? 4 : el.vr === "OD" || el.vr === "OV" ? 8 : 1;
  return word > 1 ? swapped(raw, word) : Buffer.from(raw);
}
