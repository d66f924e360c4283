// Serialises a (possibly modified) dataset in its original transfer syntax. Unmodified values
// are copied byte for byte; pixel data is referenced in its source and streamed on output.
import { deflateRawSync } from "node:zlib";
import { openSync, writeSync, closeSync, renameSync } from "node:fs";
import { formatTag, LONG_VRS, TAG } from "./dictionary";
import type { Dataset, Element, Syntax } from "./parse";
import type { ByteSource } from "./source";

export class ByteBuilder {
  buf: Buffer;
  len = 0;
  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const nb = Buffer.allocUnsafe(size);
    this.buf.copy(nb, 0, 0, this.len);
    this.buf = nb;
  }
  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }
  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }
  ascii(s: string): void {
    this.ensure(s.length);
    this.len += this.buf.write(s, this.len, "latin1");
  }
  u16(v: number, le: boolean): void {
    this.ensure(2);
    if (le) this.buf.writeUInt16LE(v, this.len);
    else this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
  }
  u32(v: number, le: boolean): void {
    this.ensure(4);
    if (le) this.buf.writeUInt32LE(v >>> 0, this.len);
    else this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  patchU32(at: number, v: number, le: boolean): void {
    if (le) this.buf.writeUInt32LE(v >>> 0, at);
    else this.buf.writeUInt32BE(v >>> 0, at);
  }
  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** Where a leaf value landed in the output, for mapping verification hits back to a tag path. */
export interface Span {
  part: "head" | "tail";
  start: number;
  end: number;
  el: Element;
  parent: PathNode | null;
}
export interface PathNode {
  parent: PathNode | null;
  tag: number;
  index: number;
}

export function spanPath(s: Span): string {
  const parts: string[] = [];
  for (let n = s.parent; n; n = n.parent) parts.unshift(`${formatTag(n.tag)}[${n.index}]`);
  parts.push(formatTag(s.el.tag));
  return parts.join("/");
}

export type PixelChunk = { source: ByteSource; offset: number; length: number } | { buf: Buffer };

export interface EncodedFile {
  /** Preamble, meta header and the dataset up to and including the pixel data element header. */
  head: Buffer;
  pixel?: PixelChunk;
  /** Elements after the pixel data value. */
  tail: Buffer;
  spans: Span[];
  /** For deflated syntaxes: the compressed dataset (head holds only preamble + meta). */
  deflatedBody?: Buffer;
  /** For deflated syntaxes: the uncompressed dataset, and where the pixel value lies in it. */
  inflatedBody?: Buffer;
  inflatedPixel?: [number, number];
  size: number;
}

const UNDEFINED = 0xffffffff;

function vrToWrite(el: Element): string {
  if (el.items) return "SQ";
  if (el.newValue) return el.vr === "UN" && el.fileVr ? el.fileVr : el.vr;
  return el.fileVr ?? el.vr;
}

function writeHeader(b: ByteBuilder, tag: number, vr: string, length: number, le: boolean, explicit: boolean): void {
  b.u16(tag >>> 16, le);
  b.u16(tag & 0xffff, le);
  if (!explicit) {
    b.u32(length, le);
    return;
  }
  if (LONG_VRS.has(vr) || (length > 0xffff && length !== UNDEFINED) || length === UNDEFINED) {
    const v = LONG_VRS.has(vr) ? vr : "UN";
    b.ascii(v);
    b.u16(0, le);
    b.u32(length, le);
  } else {
    b.ascii(vr);
    b.u16(length, le);
  }
}

interface WriteState {
  le: boolean;
  explicit: boolean;
  spans: Span[];
  part: "head" | "tail";
  /** Set when the top-level pixel data element is reached. */
  onPixel?: (el: Element) => void;
}

function writeElements(b: ByteBuilder, ds: Dataset, st: WriteState, parent: PathNode | null, top: boolean): void {
  for (const el of ds.elements) {
    if (top && el.tag === TAG.PixelData && el.inSource) {
      const vr = el.fileVr ?? (el.undefinedLength ? "OB" : "OW");
      writeHeader(b, el.tag, vr === "UN" ? "OB" : vr, el.undefinedLength ? UNDEFINED : el.length, st.le, st.explicit);
      st.onPixel?.(el);
      continue;
    }
    if (el.items) {
      const vr = "SQ";
      if (el.undefinedLength || el.fromUN) {
        writeHeader(b, el.tag, vr, UNDEFINED, st.le, st.explicit);
      } else {
        writeHeader(b, el.tag, vr, 0, st.le, st.explicit);
      }
      const lenAt = b.len - 4;
      const start = b.len;
      el.items.forEach((item, index) => {
        b.u16(0xfffe, st.le);
        b.u16(0xe000, st.le);
        const node: PathNode = { parent, tag: el.tag, index };
        if (item.undefinedLength) {
          b.u32(UNDEFINED, st.le);
          writeElements(b, item, st, node, false);
          b.u16(0xfffe, st.le);
          b.u16(0xe00d, st.le);
          b.u32(0, st.le);
        } else {
          b.u32(0, st.le);
          const iAt = b.len - 4;
          const iStart = b.len;
          writeElements(b, item, st, node, false);
          b.patchU32(iAt, b.len - iStart, st.le);
        }
      });
      if (el.undefinedLength || el.fromUN) {
        b.u16(0xfffe, st.le);
        b.u16(0xe0dd, st.le);
        b.u32(0, st.le);
      } else {
        b.patchU32(lenAt, b.len - start, st.le);
      }
      continue;
    }
    const value = el.newValue ?? el.buf.subarray(el.valueOffset, el.valueOffset + el.length);
    writeHeader(b, el.tag, vrToWrite(el), value.length, st.le, st.explicit);
    const start = b.len;
    b.bytes(value);
    st.spans.push({ part: st.part, start, end: b.len, el, parent });
  }
}

/** A new meta header for the dataset. */
function writeMeta(b: ByteBuilder, sopClass: string, sopInstance: string, tsuid: string): void {
  b.zeros(128);
  b.ascii("DICM");
  const body = new ByteBuilder(256);
  const el = (tag: number, vr: string, v: Buffer) => {
    writeHeader(body, tag, vr, v.length, true, true);
    body.bytes(v);
  };
  el(0x00020001, "OB", Buffer.from([0, 1]));
  el(0x00020002, "UI", uiBytes(sopClass));
  el(0x00020003, "UI", uiBytes(sopInstance));
  el(0x00020010, "UI", uiBytes(tsuid));
  el(0x00020012, "UI", uiBytes(IMPLEMENTATION_CLASS_UID));
  el(0x00020013, "SH", textBytes(IMPLEMENTATION_VERSION));
  writeHeader(b, 0x00020000, "UL", 4, true, true);
  b.u32(body.len, true);
  b.bytes(body.result());
}

// A UUID-derived UID (2.25) identifying this implementation.
export const IMPLEMENTATION_CLASS_UID = "2.25.176402347183516128391226376219036516437";
export const IMPLEMENTATION_VERSION = "ATRIUM_DEID_1";

export function uiBytes(s: string): Buffer {
  const b = Buffer.from(s, "latin1");
  return b.length % 2 ? Buffer.concat([b, Buffer.from([0])]) : b;
}
export function textBytes(s: string, encoding: BufferEncoding = "latin1"): Buffer {
  const b = Buffer.from(s, encoding);
  return b.length % 2 ? Buffer.concat([b, Buffer.from(" ")]) : b;
}

export function encodeFile(
  ds: Dataset,
  syntax: Syntax,
  ids: { sopClassUID: string; sopInstanceUID: string },
  pixelSource: ByteSource,
): EncodedFile {
  const head = new ByteBuilder(64 * 1024);
  writeMeta(head, ids.sopClassUID, ids.sopInstanceUID, syntax.transferSyntaxUID);
  const metaLen = head.len;
  const spans: Span[] = [];
  let pixelEl: Element | undefined;
  let tail: ByteBuilder | undefined;
  let inflatedPixel: [number, number] | undefined;
  const body = syntax.deflated ? new ByteBuilder(64 * 1024) : head;
  const st: WriteState = {
    le: syntax.littleEndian,
    explicit: syntax.explicit,
    spans,
    part: "head",
    onPixel: (el) => {
      pixelEl = el;
      if (!syntax.deflated) {
        tail = new ByteBuilder(1024);
        st.part = "tail";
      } else {
        // Deflated: pixel bytes are part of the compressed stream.
        const start = body.len;
        body.bytes(pixelBytes(el, pixelSource));
        inflatedPixel = [start, body.len];
      }
    },
  };
  // Top-level elements: once pixel data is written, continue into the tail builder.
  const top = ds.elements;
  for (let i = 0; i < top.length; i++) {
    const target = tail ?? body;
    writeElements(target, { elements: [top[i]] }, st, null, true);
  }
  if (syntax.deflated) {
    const deflated = deflateRawSync(body.result());
    const headBuf = head.result();
    // Spans refer to the uncompressed body; keep them relative to it (part "tail" unused).
    return {
      head: headBuf.subarray(0, metaLen),
      tail: Buffer.alloc(0),
      spans,
      deflatedBody: deflated,
      inflatedBody: body.result(),
      inflatedPixel,
      size: metaLen + deflated.length,
    };
  }
  let pixel: PixelChunk | undefined;
  if (pixelEl) {
    const region = pixelEl.encapsulated ?? { offset: pixelEl.valueOffset + 0, length: pixelEl.length };
    const blanked = (pixelEl as { blanked?: Buffer }).blanked;
    pixel = blanked ? { buf: blanked } : { source: pixelSource, offset: region.offset, length: region.length };
  }
  const tailBuf = tail ? tail.result() : Buffer.alloc(0);
  const headBuf = head.result();
  return { head: headBuf, pixel, tail: tailBuf, spans, size: headBuf.length + (pixel && "length" in pixel ? pixel.length : pixel ? (pixel as { buf: Buffer }).buf.length : 0) + tailBuf.length };
}

export function pixelBytes(el: Element, source: ByteSource): Buffer {
  const blanked = (el as { blanked?: Buffer }).blanked;
  if (blanked) return blanked;
  if (el.encapsulated) return source.readAt(el.encapsulated.offset, el.encapsulated.length);
  return source.readAt(el.valueOffset, el.length);
}

/**
 * What the verification pass searches: every byte we generated, i.e. the whole output except
 * the pixel data value (copied unchanged from the input). `base` maps back to span offsets.
 */
export function searchableParts(enc: EncodedFile): { part: "head" | "tail"; buf: Buffer; base: number }[] {
  if (enc.inflatedBody) {
    const [a, b] = enc.inflatedPixel ?? [enc.inflatedBody.length, enc.inflatedBody.length];
    return [
      { part: "head", buf: enc.inflatedBody.subarray(0, a), base: 0 },
      { part: "head", buf: enc.inflatedBody.subarray(b), base: b },
    ];
  }
  return [
    { part: "head", buf: enc.head, base: 0 },
    { part: "tail", buf: enc.tail, base: 0 },
  ];
}

const COPY_CHUNK = 4 * 1024 * 1024;

/** Writes the encoded file (streaming pixel data from its source) to `path` atomically. */
export function writeEncodedFile(enc: EncodedFile, path: string): void {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, enc.head);
    if (enc.deflatedBody) writeSync(fd, enc.deflatedBody);
    if (enc.pixel) {
      if ("buf" in enc.pixel) writeSync(fd, enc.pixel.buf);
      else {
        const { source, offset, length } = enc.pixel;
        for (let o = 0; o < length; o += COPY_CHUNK) {
          const chunk = source.readAt(offset + o, Math.min(COPY_CHUNK, length - o));
          writeSync(fd, chunk);
        }
      }
    }
    if (enc.tail.length) writeSync(fd, enc.tail);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** The encoded file as one buffer (tests, small files). */
export function encodedToBuffer(enc: EncodedFile): Buffer {
  const parts: Buffer[] = [enc.head];
  if (enc.deflatedBody) parts.push(enc.deflatedBody);
  if (enc.pixel) {
    if ("buf" in enc.pixel) parts.push(enc.pixel.buf);
    else parts.push(enc.pixel.source.readAt(enc.pixel.offset, enc.pixel.length));
  }
  parts.push(enc.tail);
  return Buffer.concat(parts);
}

