// A DICOM Part 10 / raw-dataset tokenizer. It keeps every value as a view on the input bytes
// (nothing is decoded or copied), parses sequences at any depth, and stops at the top-level
// Pixel Data, whose value is located (fragment by fragment when encapsulated) but never read.
// Malformed input raises DicomParseError with a code and a tag path, never a value.
import { inflateRawSync } from "node:zlib";
import { dictVr, formatTag, KNOWN_VRS, LONG_VRS, TAG } from "./dictionary";
import type { ByteSource } from "./source";
import { BufferSource } from "./source";

export type ParseErrorCode =
  | "not_dicom"
  | "truncated"
  | "bad_length"
  | "bad_vr"
  | "bad_sequence"
  | "bad_meta"
  | "too_deep"
  | "too_large"
  | "inflate_failed"
  | "unsupported_syntax"
  | "need_more";

export class DicomParseError extends Error {
  constructor(
    readonly code: ParseErrorCode,
    message: string,
    readonly elementPath?: string,
  ) {
    super(message);
    this.name = "DicomParseError";
  }
}

export interface Fragment {
  offset: number; // absolute offset of the fragment value in the source
  length: number;
}

export interface Element {
  tag: number;
  /** VR used to interpret the value (dictionary VR for implicit VR and for UN of a known tag). */
  vr: string;
  /** VR as written in the file (explicit syntaxes), or null (implicit). */
  fileVr: string | null;
  /** The buffer the value lives in, and its offset there. */
  buf: Buffer;
  valueOffset: number;
  length: number;
  undefinedLength: boolean;
  items?: Dataset[];
  /** Encapsulated pixel data: the item values, and the whole encoded region (items + delimiter). */
  fragments?: Fragment[];
  encapsulated?: { offset: number; length: number };
  /** Pixel data whose value lies in the source (not necessarily in `buf`). */
  inSource?: boolean;
  /** Set by the de-identifier: a replacement value (already padded to even length). */
  newValue?: Buffer;
  /** For sequences parsed out of a UN value (implicit VR little endian inside). */
  fromUN?: boolean;
}

export interface Dataset {
  elements: Element[];
  /** Items only: written with undefined length in the input. */
  undefinedLength?: boolean;
}

export interface Syntax {
  transferSyntaxUID: string;
  explicit: boolean;
  littleEndian: boolean;
  deflated: boolean;
  encapsulated: boolean;
}

export interface ParsedFile {
  syntax: Syntax;
  /** Group 0002 elements as read (may be empty when the input had no meta header). */
  meta: Dataset;
  hadPreamble: boolean;
  dataset: Dataset;
  /** Where the pixel data value lives (for streaming it to the output). */
  pixelSource: ByteSource;
  /** Bytes the parse actually held in memory (header + tail, or the inflated dataset). */
  heldBytes: number;
}

export const TS = {
  ImplicitLE: "1.2.840.10008.1.2",
  ExplicitLE: "1.2.840.10008.1.2.1",
  ExplicitBE: "1.2.840.10008.1.2.2",
  Deflated: "1.2.840.10008.1.2.1.99",
  RLE: "1.2.840.10008.1.2.5",
} as const;

export function syntaxFor(uid: string): Syntax {
  const u = uid.replace(/[\0 ]+$/, "");
  switch (u) {
    case TS.ImplicitLE:
      return { transferSyntaxUID: u, explicit: false, littleEndian: true, deflated: false, encapsulated: false };
    case TS.ExplicitLE:
      return { transferSyntaxUID: u, explicit: true, littleEndian: true, deflated: false, encapsulated: false };
    case TS.ExplicitBE:
      return { transferSyntaxUID: u, explicit: true, littleEndian: false, deflated: false, encapsulated: false };
    case TS.Deflated:
      return { transferSyntaxUID: u, explicit: true, littleEndian: true, deflated: true, encapsulated: false };
    default:
      if (!/^[0-9.]{1,64}$/.test(u)) throw new DicomParseError("bad_meta", "Transfer Syntax UID is not a valid UID");
      // Every other standard syntax is explicit VR little endian with encapsulated pixel data.
      return { transferSyntaxUID: u, explicit: true, littleEndian: true, deflated: false, encapsulated: true };
  }
}

export interface ParseLimits {
  /** Max bytes of non-pixel data held in memory (header before + elements after pixel data). */
  maxHeaderBytes: number;
  /** Max inflated size of a deflated dataset. */
  maxInflatedBytes: number;
  maxDepth: number;
  /** Max number of fragments in encapsulated pixel data. */
  maxFragments: number;
}

export const DEFAULT_LIMITS: ParseLimits = {
  maxHeaderBytes: 64 * 1024 * 1024,
  maxInflatedBytes: 128 * 1024 * 1024,
  maxDepth: 48,
  maxFragments: 1_000_000,
};

const UNDEFINED = 0xffffffff;

class Reader {
  constructor(
    readonly buf: Buffer,
    readonly le: boolean,
    readonly explicit: boolean,
    /** True when `buf` holds a prefix of a longer source (file mode). */
    readonly partial: boolean,
    readonly source: ByteSource,
    /** Absolute offset in the source of buf[0] (file mode; 0 otherwise). */
    readonly base: number,
    readonly limits: ParseLimits,
  ) {}

  u16(o: number): number {
    return this.le ? this.buf.readUInt16LE(o) : this.buf.readUInt16BE(o);
  }
  u32(o: number): number {
    return this.le ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o);
  }
  need(o: number, n: number, path: () => string): void {
    if (o + n > this.buf.length) {
      if (this.partial) throw new DicomParseError("need_more", "more header bytes needed");
      throw new DicomParseError("truncated", `file ends inside an element (needs ${o + n - this.buf.length} more bytes)`, path());
    }
  }
}

interface Ctx {
  path: string; // e.g. "(0040,0275)[0]/"
  depth: number;
}

function pathOf(ctx: Ctx, tag: number): string {
  return ctx.path + formatTag(tag);
}

function readTag(r: Reader, o: number): number {
  return ((r.u16(o) << 16) | r.u16(o + 2)) >>> 0;
}

function isVrChars(b0: number, b1: number): boolean {
  return b0 >= 0x41 && b0 <= 0x5a && b1 >= 0x41 && b1 <= 0x5a;
}

/**
 * Parses elements from `start` until `end` (exclusive), or until a delimiter (returns its offset).
 * Returns the offset after the last consumed byte.
 */
function parseElements(
  r: Reader,
  start: number,
  end: number,
  out: Element[],
  ctx: Ctx,
  opts: { stopAtDelimiter?: number; topLevel?: boolean; pixelOut?: { el?: Element; end?: number } },
): number {
  let o = start;
  let lastTag = -1;
  while (o < end) {
    r.need(o, 4, () => ctx.path + "@header");
    const tag = readTag(r, o);
    if (opts.stopAtDelimiter !== undefined && tag === opts.stopAtDelimiter) {
      r.need(o, 8, () => ctx.path + "@delimiter");
      return o + 8;
    }
    if (tag === TAG.Item || tag === TAG.ItemDelimitation || tag === TAG.SequenceDelimitation) {
      throw new DicomParseError("bad_sequence", "unexpected item or delimiter tag in a dataset", pathOf(ctx, tag));
    }
    if (tag <= lastTag) {
      // Out-of-order or duplicate tags: DICOM requires ascending order. Reject duplicates
      // (ambiguous: which value would we de-identify?), tolerate no other disorder.
      throw new DicomParseError("bad_sequence", "elements out of ascending tag order or duplicated", pathOf(ctx, tag));
    }
    lastTag = tag;
    let vr: string;
    let fileVr: string | null = null;
    let length: number;
    let valueOffset: number;
    if (r.explicit) {
      r.need(o, 8, () => pathOf(ctx, tag));
      const b0 = r.buf[o + 4];
      const b1 = r.buf[o + 5];
      if (!isVrChars(b0, b1)) throw new DicomParseError("bad_vr", "invalid VR bytes", pathOf(ctx, tag));
      fileVr = String.fromCharCode(b0, b1);
      if (!KNOWN_VRS.has(fileVr)) throw new DicomParseError("bad_vr", `unknown VR ${fileVr}`, pathOf(ctx, tag));
      if (LONG_VRS.has(fileVr)) {
        r.need(o, 12, () => pathOf(ctx, tag));
        length = r.u32(o + 8);
        valueOffset = o + 12;
      } else {
        length = r.u16(o + 6);
        valueOffset = o + 8;
      }
      vr = fileVr;
      if (vr === "UN") {
        const d = dictVr(tag);
        if (d !== "UN" && d !== "NA") vr = d;
        else if (length === UNDEFINED) vr = "SQ";
      }
    } else {
      r.need(o, 8, () => pathOf(ctx, tag));
      length = r.u32(o + 4);
      valueOffset = o + 8;
      vr = dictVr(tag);
      if (vr === "UN" && length === UNDEFINED) vr = "SQ";
      if (vr === "NA") vr = "UN";
    }
    const el: Element = { tag, vr, fileVr, buf: r.buf, valueOffset, length, undefinedLength: length === UNDEFINED };

    if (tag === TAG.PixelData && opts.topLevel) {
      o = locatePixelData(r, el, ctx);
      out.push(el);
      if (opts.pixelOut) {
        opts.pixelOut.el = el;
        opts.pixelOut.end = o;
      }
      return o; // the caller parses what follows pixel data separately
    }

    if (vr === "SQ" || (el.undefinedLength && fileVr === "UN")) {
      if (ctx.depth + 1 > r.limits.maxDepth) throw new DicomParseError("too_deep", "sequences nested too deeply", pathOf(ctx, tag));
      const implicitInside = fileVr === "UN" || (r.explicit === false);
      el.vr = "SQ";
      el.items = [];
      let inner = r;
      if (fileVr === "UN") {
        if (!r.le) {
          // A UN sequence inside a big-endian dataset is implicit little endian: keep it opaque.
          el.vr = "UN";
          el.items = undefined;
          if (el.undefinedLength) throw new DicomParseError("bad_length", "undefined-length UN in big endian", pathOf(ctx, tag));
          r.need(valueOffset, length, () => pathOf(ctx, tag));
          o = valueOffset + length;
          out.push(el);
          continue;
        }
        el.fromUN = true;
        inner = new Reader(r.buf, true, false, r.partial, r.source, r.base, r.limits);
      } else if (implicitInside !== !r.explicit) {
        inner = new Reader(r.buf, r.le, !implicitInside, r.partial, r.source, r.base, r.limits);
      }
      o = parseSequence(inner, el, ctx);
      out.push(el);
      continue;
    }
    if (el.undefinedLength) {
      throw new DicomParseError("bad_length", "undefined length on a non-sequence element", pathOf(ctx, tag));
    }
    if (valueOffset + length > end && !r.partial) {
      throw new DicomParseError(
        valueOffset + length > r.buf.length ? "truncated" : "bad_length",
        valueOffset + length > r.buf.length ? "element value runs past the end of the file" : "element value runs past its enclosing item",
        pathOf(ctx, tag),
      );
    }
    r.need(valueOffset, length, () => pathOf(ctx, tag));
    if (valueOffset + length > end) throw new DicomParseError("bad_length", "element value runs past its enclosing item", pathOf(ctx, tag));
    o = valueOffset + length;
    out.push(el);
  }
  if (opts.stopAtDelimiter !== undefined) {
    if (r.partial && o >= r.buf.length) throw new DicomParseError("need_more", "more header bytes needed");
    throw new DicomParseError("bad_sequence", "missing delimitation item", ctx.path.replace(/\/$/, "") || undefined);
  }
  return o;
}

function parseSequence(r: Reader, el: Element, ctx: Ctx): number {
  const seqPath = pathOf(ctx, el.tag);
  const start = el.valueOffset;
  const defined = !el.undefinedLength;
  const end = defined ? start + el.length : r.buf.length;
  if (defined) {
    if (end > r.buf.length) {
      if (r.partial) throw new DicomParseError("need_more", "more header bytes needed");
      throw new DicomParseError("truncated", "sequence runs past the end of the file", seqPath);
    }
  }
  let o = start;
  let index = 0;
  while (true) {
    if (defined && o >= end) {
      if (o > end) throw new DicomParseError("bad_length", "sequence items overrun the sequence length", seqPath);
      return o;
    }
    if (o + 8 > r.buf.length) {
      if (r.partial) throw new DicomParseError("need_more", "more header bytes needed");
      throw new DicomParseError("truncated", "file ends inside a sequence", seqPath);
    }
    const tag = readTag(r, o);
    const len = r.u32(o + 4);
    if (tag === TAG.SequenceDelimitation) {
      if (defined) throw new DicomParseError("bad_sequence", "sequence delimiter in a defined-length sequence", seqPath);
      return o + 8;
    }
    if (tag !== TAG.Item) throw new DicomParseError("bad_sequence", "expected an item in a sequence", seqPath);
    const itemCtx: Ctx = { path: `${seqPath}[${index}]/`, depth: ctx.depth + 1 };
    const item: Dataset = { elements: [] };
    const itemStart = o + 8;
    if (len === UNDEFINED) {
      item.undefinedLength = true;
      o = parseElements(r, itemStart, defined ? end : r.buf.length, item.elements, itemCtx, { stopAtDelimiter: TAG.ItemDelimitation });
    } else {
      const itemEnd = itemStart + len;
      if (itemEnd > (defined ? end : r.buf.length)) {
        if (r.partial && itemEnd > r.buf.length) throw new DicomParseError("need_more", "more header bytes needed");
        throw new DicomParseError(itemEnd > r.buf.length ? "truncated" : "bad_length", "item runs past its sequence or the file", `${seqPath}[${index}]`);
      }
      o = parseElements(r, itemStart, itemEnd, item.elements, itemCtx, {});
      if (o !== itemEnd) throw new DicomParseError("bad_length", "item length does not match its contents", `${seqPath}[${index}]`);
    }
    el.items!.push(item);
    index++;
  }
}

/** Finds where pixel data ends without reading its value; returns the offset after it (relative to buf). */
function locatePixelData(r: Reader, el: Element, ctx: Ctx): number {
  const path = pathOf(ctx, el.tag);
  el.inSource = true;
  const absStart = r.base + el.valueOffset;
  if (!el.undefinedLength) {
    if (absStart + el.length > r.source.size) {
      throw new DicomParseError("truncated", "pixel data runs past the end of the file", path);
    }
    return el.valueOffset + el.length;
  }
  // Encapsulated: a sequence of items (fragments) then a sequence delimiter; read only the
  // 8-byte item headers from the source.
  const fragments: Fragment[] = [];
  let abs = absStart;
  while (true) {
    const h = r.source.readAt(abs, 8);
    if (h.length < 8) throw new DicomParseError("truncated", "file ends inside encapsulated pixel data", path);
    const tag = ((h.readUInt16LE(0) << 16) | h.readUInt16LE(2)) >>> 0;
    const len = h.readUInt32LE(4);
    if (tag === TAG.SequenceDelimitation) {
      abs += 8;
      break;
    }
    if (tag !== TAG.Item) throw new DicomParseError("bad_sequence", "encapsulated pixel data item expected", path);
    if (len === UNDEFINED) throw new DicomParseError("bad_length", "undefined-length pixel data fragment", path);
    if (abs + 8 + len > r.source.size) throw new DicomParseError("truncated", "pixel data fragment runs past the end of the file", path);
    fragments.push({ offset: abs + 8, length: len });
    if (fragments.length > r.limits.maxFragments) throw new DicomParseError("too_large", "too many pixel data fragments", path);
    abs += 8 + len;
  }
  el.fragments = fragments;
  el.encapsulated = { offset: absStart, length: abs - absStart };
  return abs - r.base;
}

/** Guesses the syntax of a dataset without meta header from its first element. */
function sniffRawDataset(buf: Buffer): Syntax | undefined {
  if (buf.length < 8) return undefined;
  const group = buf.readUInt16LE(0);
  if (group === 0 || group > 0x0100) {
    const gbe = buf.readUInt16BE(0);
    if (gbe >= 0x0002 && gbe <= 0x0100 && isVrChars(buf[4], buf[5])) return syntaxFor(TS.ExplicitBE);
    return undefined;
  }
  if (isVrChars(buf[4], buf[5]) && KNOWN_VRS.has(String.fromCharCode(buf[4], buf[5]))) return syntaxFor(TS.ExplicitLE);
  const len = buf.readUInt32LE(4);
  if (len < buf.length || len === UNDEFINED) return syntaxFor(TS.ImplicitLE);
  return undefined;
}

function parseMeta(buf: Buffer, start: number): { meta: Dataset; end: number; tsuid: string } {
  const r = new Reader(buf, true, true, false, new BufferSource(buf), 0, DEFAULT_LIMITS);
  const meta: Dataset = { elements: [] };
  let o = start;
  let tsuid: string | undefined;
  while (o + 8 <= buf.length && buf.readUInt16LE(o) === 0x0002) {
    const tag = readTag(r, o);
    const b0 = buf[o + 4];
    const b1 = buf[o + 5];
    let length: number;
    let valueOffset: number;
    let fileVr: string;
    if (isVrChars(b0, b1)) {
      fileVr = String.fromCharCode(b0, b1);
      if (LONG_VRS.has(fileVr)) {
        if (o + 12 > buf.length) throw new DicomParseError("truncated", "file ends inside the meta header", formatTag(tag));
        length = buf.readUInt32LE(o + 8);
        valueOffset = o + 12;
      } else {
        length = buf.readUInt16LE(o + 6);
        valueOffset = o + 8;
      }
    } else {
      // Some writers emit the meta group in implicit VR.
      fileVr = dictVr(tag);
      length = buf.readUInt32LE(o + 4);
      valueOffset = o + 8;
    }
    if (length === UNDEFINED || valueOffset + length > buf.length) {
      throw new DicomParseError("bad_meta", "meta header element length is invalid", formatTag(tag));
    }
    meta.elements.push({ tag, vr: fileVr, fileVr, buf, valueOffset, length, undefinedLength: false });
    if (tag === TAG.TransferSyntaxUID) tsuid = buf.toString("latin1", valueOffset, valueOffset + length).replace(/[\0 ]+$/, "");
    o = valueOffset + length;
  }
  if (!tsuid) throw new DicomParseError("bad_meta", "meta header has no Transfer Syntax UID", "(0002,0010)");
  return { meta, end: o, tsuid };
}

/**
 * Parses a DICOM file (Part 10 with or without preamble, or a bare dataset). Pixel data is
 * located, not read: for a FileSource only the bytes before and after it are loaded.
 */
export function parseDicom(source: ByteSource, limits: ParseLimits = DEFAULT_LIMITS): ParsedFile {
  let headerLen = Math.min(source.size, source instanceof BufferSource ? source.size : 1 << 20);
  for (;;) {
    try {
      return parseWithHeader(source, headerLen, limits);
    } catch (e) {
      if (e instanceof DicomParseError && e.code === "need_more") {
        if (headerLen >= source.size) throw new DicomParseError("truncated", "file ends inside the dataset");
        if (headerLen >= limits.maxHeaderBytes) {
          throw new DicomParseError("too_large", `non-pixel data exceeds ${limits.maxHeaderBytes} bytes`);
        }
        headerLen = Math.min(source.size, limits.maxHeaderBytes, headerLen * 4);
        continue;
      }
      if (e instanceof DicomParseError) throw e;
      if (e instanceof RangeError) throw new DicomParseError("truncated", "file ends inside an element");
      throw e;
    }
  }
}

function parseWithHeader(source: ByteSource, headerLen: number, limits: ParseLimits): ParsedFile {
  const head = source.readAt(0, headerLen);
  const partial = headerLen < source.size;
  let hadPreamble = false;
  let metaStart = -1;
  if (head.length >= 132 && head.toString("latin1", 128, 132) === "DICM") {
    hadPreamble = true;
    metaStart = 132;
  } else if (head.length >= 4 && head.toString("latin1", 0, 4) === "DICM") {
    metaStart = 4;
  } else if (head.length >= 8 && head.readUInt16LE(0) === 0x0002 && isVrChars(head[4], head[5])) {
    metaStart = 0;
  }
  let meta: Dataset = { elements: [] };
  let syntax: Syntax;
  let dataStart: number;
  if (metaStart >= 0) {
    const m = parseMeta(head, metaStart);
    meta = m.meta;
    syntax = syntaxFor(m.tsuid);
    dataStart = m.end;
  } else {
    const s = sniffRawDataset(head);
    if (!s) throw new DicomParseError("not_dicom", "no DICM marker and no recognisable dataset");
    syntax = s;
    dataStart = 0;
  }

  if (syntax.deflated) {
    const rest = source.readAt(dataStart, source.size - dataStart);
    let inflated: Buffer;
    try {
      inflated = inflateRawSync(rest, { maxOutputLength: limits.maxInflatedBytes });
    } catch (e) {
      const tooBig = e instanceof RangeError || String((e as Error).message).includes("maxOutputLength");
      throw new DicomParseError(tooBig ? "too_large" : "inflate_failed", tooBig ? "deflated dataset inflates beyond the limit" : "deflated dataset cannot be inflated");
    }
    const src = new BufferSource(inflated);
    const r = new Reader(inflated, true, true, false, src, 0, limits);
    const dataset = parseTopLevel(r, 0, inflated.length);
    return { syntax, meta, hadPreamble, dataset, pixelSource: src, heldBytes: inflated.length };
  }

  const r = new Reader(head, syntax.littleEndian, syntax.explicit, partial, source, 0, limits);
  const dataset: Dataset = { elements: [] };
  const pix: { el?: Element; end?: number } = {};
  const ctx: Ctx = { path: "", depth: 0 };
  parseElements(r, dataStart, partial ? Infinity : head.length, dataset.elements, ctx, { topLevel: true, pixelOut: pix });
  let held = head.length;
  if (pix.el && pix.end !== undefined && pix.end < source.size) {
    // Elements after pixel data (e.g. Data Set Trailing Padding): parse them from a tail buffer.
    const tailLen = source.size - pix.end;
    if (tailLen > limits.maxHeaderBytes) throw new DicomParseError("too_large", "data after pixel data exceeds the limit", "(7FE0,0010)");
    const tail = pix.end + tailLen <= head.length && !partial ? head.subarray(pix.end) : source.readAt(pix.end, tailLen);
    held += tail === head ? 0 : tail.length;
    const tr = new Reader(tail, syntax.littleEndian, syntax.explicit, false, source, pix.end, limits);
    const after: Element[] = [];
    parseElements(tr, 0, tail.length, after, ctx, {});
    for (const e of after) {
      if (e.tag <= TAG.PixelData) throw new DicomParseError("bad_sequence", "elements out of ascending tag order or duplicated", formatTag(e.tag));
    }
    dataset.elements.push(...after);
  }
  if (!pix.el && partial) {
    throw new DicomParseError("need_more", "more header bytes needed");
  }
  return { syntax, meta, hadPreamble, dataset, pixelSource: source, heldBytes: held };
}

function parseTopLevel(r: Reader, start: number, end: number): Dataset {
  const dataset: Dataset = { elements: [] };
  const ctx: Ctx = { path: "", depth: 0 };
  const pix: { el?: Element; end?: number } = {};
  const o = parseElements(r, start, end, dataset.elements, ctx, { topLevel: true, pixelOut: pix });
  if (pix.el && o < end) {
    const after: Element[] = [];
    parseElements(r, o, end, after, ctx, {});
    dataset.elements.push(...after);
  }
  return dataset;
}

// ---- value helpers -------------------------------------------------------------------------

export function valueBytes(el: Element): Buffer {
  if (el.newValue) return el.newValue;
  if (el.inSource) throw new Error("pixel data value is not held in memory");
  return el.buf.subarray(el.valueOffset, el.valueOffset + el.length);
}

export function findElement(ds: Dataset, tag: number): Element | undefined {
  // Elements are sorted: binary search.
  const els = ds.elements;
  let lo = 0;
  let hi = els.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const t = els[mid].tag;
    if (t === tag) return els[mid];
    if (t < tag) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** The value as text (latin1; ASCII VRs and the default repertoire), trailing padding removed. */
export function stringValue(ds: Dataset, tag: number): string | undefined {
  const el = findElement(ds, tag);
  if (!el || el.items || el.inSource) return undefined;
  return valueBytes(el).toString("latin1").replace(/[\0 ]+$/, "").replace(/^ +/, "");
}

export function numberValue(ds: Dataset, tag: number, le = true): number | undefined {
  const el = findElement(ds, tag);
  if (!el || el.items || el.inSource) return undefined;
  const v = valueBytes(el);
  if (el.vr === "US" && v.length >= 2) return le ? v.readUInt16LE(0) : v.readUInt16BE(0);
  if (el.vr === "UL" && v.length >= 4) return le ? v.readUInt32LE(0) : v.readUInt32BE(0);
  if (el.vr === "IS" || el.vr === "DS") {
    const n = Number(v.toString("latin1").trim().split("\\")[0]);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}
