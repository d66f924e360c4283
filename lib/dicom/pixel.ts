// Pixel blanking by rules, in CTP DicomPixelAnonymizer script format: a signature
// `{ boolean expression in the DicomFilter language }` followed by regions `(x,y,w,h)`; the first
// matching signature wins. Uncompressed pixel data is rewritten (native little/big endian); a file
// RLE Lossless frames are decoded, blanked and re-encoded; a file that needs blanking in another
// encapsulated syntax is quarantined (Atrium does not transcode JPEG/JPEG 2000/JPEG-LS).
import { lookupKeyword, parseTagString, TAG } from "./dictionary";
import { findElement, numberValue, stringValue, type Dataset, type Element, type ParsedFile } from "./parse";
import { decodeRleFrame, encodeRleFrame, RleError } from "./rle";
import { compilePattern } from "../regex";

export const RLE_LOSSLESS = "1.2.840.10008.1.2.5";

export interface Region {
  x: number;
  y: number;
  w: number;
  h: number;
}
export interface Signature {
  expr: string;
  regions: Region[];
}
export interface PixelScript {
  signatures: Signature[];
  /** Fill value (CTP: 0, or 128 in test mode). */
  fill?: number;
}

export function parsePixelScript(text: string): PixelScript {
  const sigs: Signature[] = [];
  const body = text.replace(/^\s*#.*$/gm, "");
  const re = /\{([^{}]*)\}((?:\s*\(\s*-?\d+\s*,\s*-?\d+\s*,\s*\d+\s*,\s*\d+\s*\))*)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body))) {
    const regions: Region[] = [];
    const rr = /\(\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)/g;
    let r: RegExpExecArray | null;
    while ((r = rr.exec(m[2]))) regions.push({ x: +r[1], y: +r[2], w: +r[3], h: +r[4] });
    sigs.push({ expr: m[1].trim(), regions });
  }
  return { signatures: sigs };
}

// ---- the DicomFilter expression language ----------------------------------------------------

export function evalFilter(expr: string, ds: Dataset, le = true): boolean {
  let i = 0;
  const s = expr;
  const ws = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const orExpr = (): boolean => {
    let v = andExpr();
    ws();
    while (s[i] === "+") {
      i++;
      const r = andExpr();
      v = v || r;
      ws();
    }
    return v;
  };
  const andExpr = (): boolean => {
    let v = unary();
    ws();
    while (s[i] === "*") {
      i++;
      const r = unary();
      v = v && r;
      ws();
    }
    return v;
  };
  const unary = (): boolean => {
    ws();
    if (s[i] === "!") {
      i++;
      return !unary();
    }
    if (s[i] === "(") {
      i++;
      const v = orExpr();
      ws();
      if (s[i] === ")") i++;
      return v;
    }
    const m = /^(true\.|false\.)/.exec(s.slice(i));
    if (m) {
      i += m[0].length;
      return m[0] === "true.";
    }
    const t = /^(\[[0-9a-fA-F,]+\]|[A-Za-z0-9]+)\.([A-Za-z]+)\(\s*"((?:[^"\\]|\\.)*)"\s*\)/.exec(s.slice(i));
    if (!t) throw new Error("pixel script: cannot parse signature expression");
    i += t[0].length;
    const tag = t[1].startsWith("[") ? parseTagString(t[1]) : lookupKeyword(t[1])?.tag;
    const el = tag === undefined ? undefined : findElement(ds, tag);
    const v = !el ? "" : el.vr === "US" || el.vr === "UL" ? String(numberValue(ds, el.tag, le) ?? "") : (stringValue(ds, el.tag) ?? "");
    const arg = t[3].replace(/\\(.)/g, "$1");
    const digits = (x: string) => Number(x.replace(/[^0-9.]/g, ""));
    switch (t[2]) {
      case "equals":
        return v === arg;
      case "equalsIgnoreCase":
        return v.toLowerCase() === arg.toLowerCase();
      case "matches":
        return compilePattern(arg).testWhole(v); // RE2: linear time (issue #17 §2)
      case "contains":
        return v.includes(arg);
      case "containsIgnoreCase":
        return v.toLowerCase().includes(arg.toLowerCase());
      case "startsWith":
        return v.startsWith(arg);
      case "startsWithIgnoreCase":
        return v.toLowerCase().startsWith(arg.toLowerCase());
      case "endsWith":
        return v.endsWith(arg);
      case "endsWithIgnoreCase":
        return v.toLowerCase().endsWith(arg.toLowerCase());
      case "isLessThan":
        return digits(v) < digits(arg);
      case "isGreaterThan":
        return digits(v) > digits(arg);
      default:
        return false;
    }
  };
  const v = orExpr();
  ws();
  if (i < s.length) throw new Error(`pixel script: unexpected "${s.slice(i, i + 12)}" at character ${i + 1} of the signature expression`);
  return v;
}

export const MAX_BLANK_BYTES = 256 * 1024 * 1024;

/** Applies the first matching signature's regions to the (top-level) pixel data. */
export function applyPixelRules(file: ParsedFile, script: PixelScript): { kind: "ok"; regions: number; matched?: number } | { kind: "quarantine"; reason: string; matched?: number } {
  const ds = file.dataset;
  const pix = findElement(ds, TAG.PixelData);
  if (!pix) return { kind: "ok", regions: 0 };
  const matched = script.signatures.findIndex((s) => evalFilter(s.expr, ds, file.syntax.littleEndian));
  const r = blankMatched(file, pix, script, matched);
  return { ...r, matched };
}

function blankMatched(file: ParsedFile, pix: Element, script: PixelScript, matched: number): { kind: "ok"; regions: number } | { kind: "quarantine"; reason: string } {
  const ds = file.dataset;
  const sig = matched >= 0 ? script.signatures[matched] : undefined;
  if (!sig || !sig.regions.length) return { kind: "ok", regions: 0 };
  if ((pix.encapsulated || file.syntax.encapsulated) && file.syntax.transferSyntaxUID === RLE_LOSSLESS) {
    return blankRle(file, pix, sig.regions, script.fill ?? 0);
  }
  if (pix.encapsulated || file.syntax.encapsulated) {
    return {
      kind: "quarantine",
      reason: `Pixel data needs blanking but is stored compressed (transfer syntax ${file.syntax.transferSyntaxUID}); decompress it and send it again`,
    };
  }
  const le = file.syntax.littleEndian;
  const rows = numberValue(ds, TAG.Rows, le) ?? 0;
  const cols = numberValue(ds, TAG.Columns, le) ?? 0;
  const bits = numberValue(ds, TAG.BitsAllocated, le) ?? 0;
  const spp = numberValue(ds, TAG.SamplesPerPixel, le) ?? 1;
  const planar = numberValue(ds, TAG.PlanarConfiguration, le) ?? 0;
  const frames = Math.max(1, numberValue(ds, TAG.NumberOfFrames, le) ?? 1);
  if (!rows || !cols || bits % 8 !== 0 || bits === 0) return { kind: "quarantine", reason: "Pixel data needs blanking but its geometry (Rows, Columns, Bits Allocated) is missing or unsupported" };
  const bpp = bits / 8;
  const frameBytes = rows * cols * spp * bpp;
  if (frameBytes * frames > pix.length || pix.length > MAX_BLANK_BYTES) {
    return { kind: "quarantine", reason: "Pixel data needs blanking but its length does not match its geometry or is too large to rewrite" };
  }
  const buf = Buffer.from(file.pixelSource.readAt(pix.valueOffset, pix.length)); // a private copy
  const fill = script.fill ?? 0;
  // Big endian OW holds 8-bit samples in byte-swapped 16-bit words: sample i is byte i ^ 1.
  const swapped = !le && bpp === 1 && (pix.fileVr ?? pix.vr) === "OW";
  const fillBytes = (start: number, end: number) => {
    if (!swapped) buf.fill(fill, start, end);
    else for (let k = start; k < end; k++) buf[k ^ 1] = fill;
  };
  for (let f = 0; f < frames; f++) {
    const base = f * frameBytes;
    for (const r of sig.regions) {
      const rect = clip(r, rows, cols);
      if (!rect) continue;
      const { x0, y0, x1, y1 } = rect;
      for (let y = y0; y < y1; y++) {
        if (planar === 1 && spp > 1) {
          for (let p = 0; p < spp; p++) {
            const rowStart = base + p * rows * cols * bpp + (y * cols + x0) * bpp;
            fillBytes(rowStart, rowStart + (x1 - x0) * bpp);
          }
        } else {
          const rowStart = base + (y * cols + x0) * spp * bpp;
          fillBytes(rowStart, rowStart + (x1 - x0) * spp * bpp);
        }
      }
    }
  }
  (pix as { blanked?: Buffer }).blanked = buf;
  return { kind: "ok", regions: sig.regions.length };
}

function clip(r: Region, rows: number, cols: number): { x0: number; y0: number; x1: number; y1: number } | undefined {
  const x0 = Math.max(0, r.x < 0 ? cols + r.x : r.x);
  const y0 = Math.max(0, r.y < 0 ? rows + r.y : r.y);
  const x1 = Math.min(cols, x0 + r.w);
  const y1 = Math.min(rows, y0 + r.h);
  return x1 > x0 && y1 > y0 ? { x0, y0, x1, y1 } : undefined;
}

/**
 * RLE Lossless (PS3.5 Annex G): each frame (one fragment) is decoded into its byte planes, the
 * rectangles are filled in every plane (as the native path fills every byte), and the frame is
 * re-encoded. The Basic Offset Table is rebuilt when the input had one.
 */
function blankRle(file: ParsedFile, pix: Element, regions: Region[], fill: number): { kind: "ok"; regions: number } | { kind: "quarantine"; reason: string } {
  const ds = file.dataset;
  const rows = numberValue(ds, TAG.Rows) ?? 0;
  const cols = numberValue(ds, TAG.Columns) ?? 0;
  const bits = numberValue(ds, TAG.BitsAllocated) ?? 0;
  const spp = numberValue(ds, TAG.SamplesPerPixel) ?? 1;
  const frames = Math.max(1, numberValue(ds, TAG.NumberOfFrames) ?? 1);
  const no = (reason: string) => ({ kind: "quarantine" as const, reason: `Pixel data needs blanking but ${reason}` });
  if (findElement(ds, 0x7fe00001)) return no("it has an Extended Offset Table, which Atrium does not rewrite");
  if (!rows || !cols || ![8, 16, 32].includes(bits) || spp < 1 || spp > 3) return no("its RLE geometry (Rows, Columns, Bits Allocated, Samples per Pixel) is missing or unsupported");
  const frags = pix.fragments ?? [];
  if (frags.length !== frames + 1) return no(`its RLE data has ${Math.max(0, frags.length - 1)} fragments for ${frames} frames (one fragment per frame expected)`);
  const planeSize = rows * cols;
  if (planeSize * spp * (bits / 8) * frames > MAX_BLANK_BYTES) return no("it is too large to rewrite");
  const hadBot = frags[0].length > 0;
  const out: Buffer[] = [];
  const botOffsets: number[] = [];
  let pos = 0;
  try {
    for (let f = 0; f < frames; f++) {
      const src = file.pixelSource.readAt(frags[f + 1].offset, frags[f + 1].length);
      const planes = decodeRleFrame(src, planeSize, spp * (bits / 8));
      for (const r of regions) {
        const rect = clip(r, rows, cols);
        if (!rect) continue;
        for (const plane of planes) for (let y = rect.y0; y < rect.y1; y++) plane.fill(fill, y * cols + rect.x0, y * cols + rect.x1);
      }
      let frame = encodeRleFrame(planes, rows, cols);
      if (frame.length % 2) frame = Buffer.concat([frame, Buffer.alloc(1)]);
      botOffsets.push(pos);
      const h = Buffer.alloc(8);
      h.writeUInt16LE(0xfffe, 0);
      h.writeUInt16LE(0xe000, 2);
      h.writeUInt32LE(frame.length, 4);
      out.push(h, frame);
      pos += 8 + frame.length;
    }
  } catch (e) {
    if (e instanceof RleError) return no(`its RLE data cannot be decoded (${e.message})`);
    throw e;
  }
  const bot = Buffer.alloc(8 + (hadBot ? 4 * frames : 0));
  bot.writeUInt16LE(0xfffe, 0);
  bot.writeUInt16LE(0xe000, 2);
  bot.writeUInt32LE(hadBot ? 4 * frames : 0, 4);
  if (hadBot) botOffsets.forEach((o, i) => bot.writeUInt32LE(o, 8 + 4 * i));
  const delim = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
  (pix as { blanked?: Buffer }).blanked = Buffer.concat([bot, ...out, delim]);
  return { kind: "ok", regions: regions.length };
}
