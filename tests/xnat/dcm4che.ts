// What XNAT's import does to the bytes of every DICOM file it stores (GradualDicomImporter.write,
// used by DICOM-zip and gradual-DICOM alike), re-done for the XNAT test server:
// - dcm4che2 DicomInputStream reads the file meta and the dataset up to a stop tag (the DICOM
//   identifier's last tag + 1; assumed (0032,4001) here, after Study Comments);
// - DicomOutputStream.writeFileMetaInformation writes a zero preamble, "DICM" and the meta group
//   with a recomputed (0002,0000) group length (explicit VR little endian);
// - DicomOutputStream.writeDataset writes what was read with the transfer syntax of the file:
//   group lengths (gggg,0000) dropped, sequences and items written with undefined length;
// - the rest of the file (from the stop tag on, e.g. the pixel data) is copied as it was;
// - when the transfer syntax is compressed and the site can decompress (org.nrg.dcm.Decompress),
//   the whole object is decompressed and written in the decompressed syntax instead (here with
//   DCMTK's dcmdjpeg, dcmdrle or dcmdjpls; a syntax none of them decodes is stored as it came, as
//   XNAT does when decompression fails).
// Written independently of Atrium's own DICOM code, on purpose: the double checks that code.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dictionary = (require("dcmjs") as { data: { DicomMetaDictionary: { dictionary: Record<string, { vr: string }> } } }).data.DicomMetaDictionary.dictionary;

export const DEFAULT_STOP_TAG = 0x00324001;

const LONG = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const IMPLICIT_LE = "1.2.840.10008.1.2";
const EXPLICIT_BE = "1.2.840.10008.1.2.2";
const DEFLATED = "1.2.840.10008.1.2.1.99";

/** DCMTK decoder per compressed transfer syntax. */
const DECODERS: Record<string, string> = {
  "1.2.840.10008.1.2.5": "dcmdrle",
  "1.2.840.10008.1.2.4.50": "dcmdjpeg",
  "1.2.840.10008.1.2.4.51": "dcmdjpeg",
  "1.2.840.10008.1.2.4.57": "dcmdjpeg",
  "1.2.840.10008.1.2.4.70": "dcmdjpeg",
  "1.2.840.10008.1.2.4.80": "dcmdjpls",
  "1.2.840.10008.1.2.4.81": "dcmdjpls",
};

export interface RewriteOptions {
  stopTag?: number;
  /** Decompress compressed transfer syntaxes (XNAT versions whose Decompress is available). */
  decompress?: boolean;
}

export interface RewriteResult {
  data: Buffer;
  /** The transfer syntax of the stored file. */
  transferSyntax: string;
  decompressed: boolean;
}

class Reader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly explicit: boolean,
    readonly le: boolean,
  ) {}
  u16(at = this.pos): number {
    return this.le ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at);
  }
  u32(at = this.pos): number {
    return this.le ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }
  tag(at = this.pos): number {
    return ((this.u16(at) << 16) | this.u16(at + 2)) >>> 0;
  }
}

interface El {
  tag: number;
  vr: string | null;
  /** Raw value bytes (defined length, non-sequence). */
  value?: Buffer;
  items?: El[][];
  /** Encapsulated or otherwise undefined-length non-SQ value: the raw bytes after the header, delimiter included. */
  rawUndefined?: Buffer;
}

function dictVr(tag: number): string {
  const hex = tag.toString(16).toUpperCase().padStart(8, "0");
  return dictionary[`(${hex.slice(0, 4)},${hex.slice(4)})`]?.vr ?? "UN";
}

/** Reads one element header; returns its parts and moves past the header. */
function header(r: Reader): { tag: number; vr: string | null; length: number } {
  const tag = r.tag();
  if ((tag >>> 16) === 0xfffe) {
    const length = r.u32(r.pos + 4);
    r.pos += 8;
    return { tag, vr: null, length };
  }
  if (r.explicit) {
    const vr = r.buf.toString("latin1", r.pos + 4, r.pos + 6);
    if (LONG.has(vr)) {
      const length = r.u32(r.pos + 8);
      r.pos += 12;
      return { tag, vr, length };
    }
    const length = r.u16(r.pos + 6);
    r.pos += 8;
    return { tag, vr, length };
  }
  const length = r.u32(r.pos + 4);
  r.pos += 8;
  return { tag, vr: null, length };
}

/** Skips an undefined-length value (items up to the sequence delimiter), returning its end. */
function skipUndefined(r: Reader): void {
  for (;;) {
    const h = header(r);
    if (h.tag === 0xfffee0dd) return;
    if (h.tag === 0xfffee000) {
      if (h.length === 0xffffffff) {
        // an item of undefined length: elements up to the item delimiter
        for (;;) {
          if (r.tag() === 0xfffee00d) {
            r.pos += 8;
            break;
          }
          readElement(r);
        }
      } else r.pos += h.length;
      continue;
    }
    throw new Error("malformed undefined-length value");
  }
}

function readItems(r: Reader, length: number): El[][] {
  const items: El[][] = [];
  const end = length === 0xffffffff ? Infinity : r.pos + length;
  while (r.pos < end) {
    const h = header(r);
    if (h.tag === 0xfffee0dd) break;
    if (h.tag !== 0xfffee000) throw new Error("malformed sequence");
    const item: El[] = [];
    const itemEnd = h.length === 0xffffffff ? Infinity : r.pos + h.length;
    while (r.pos < itemEnd) {
      if (r.tag() === 0xfffee00d) {
        r.pos += 8;
        break;
      }
      item.push(readElement(r));
    }
    items.push(item);
  }
  return items;
}

function readElement(r: Reader): El {
  const h = header(r);
  const vr = h.vr ?? (h.length === 0xffffffff ? (dictVr(h.tag) === "SQ" || h.tag === 0x7fe00010 ? dictVr(h.tag) : "SQ") : dictVr(h.tag));
  if (vr === "SQ") return { tag: h.tag, vr: h.vr, items: readItems(r, h.length) };
  if (h.length === 0xffffffff) {
    const start = r.pos;
    if (vr === "UN") {
      // a sequence of unknown VR: its items are implicit VR little endian
      const inner = new Reader(r.buf, r.pos, false, true);
      skipUndefined(inner);
      r.pos = inner.pos;
    } else skipUndefined(r);
    return { tag: h.tag, vr: h.vr, rawUndefined: r.buf.subarray(start, r.pos) };
  }
  const value = r.buf.subarray(r.pos, r.pos + h.length);
  r.pos += h.length;
  return { tag: h.tag, vr: h.vr, value };
}

class Writer {
  private readonly chunks: Buffer[] = [];
  constructor(
    readonly explicit: boolean,
    readonly le: boolean,
  ) {}
  raw(b: Buffer): void {
    this.chunks.push(b);
  }
  head(tag: number, vr: string | null, length: number): void {
    const b = Buffer.alloc(vr !== null && LONG.has(vr) ? 12 : 8);
    const w16 = (v: number, at: number) => (this.le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
    const w32 = (v: number, at: number) => (this.le ? b.writeUInt32LE(v >>> 0, at) : b.writeUInt32BE(v >>> 0, at));
    w16(tag >>> 16, 0);
    w16(tag & 0xffff, 2);
    if (vr === null) w32(length, 4);
    else if (LONG.has(vr)) {
      b.write(vr, 4, "latin1");
      w32(length, 8);
    } else {
      b.write(vr, 4, "latin1");
      w16(length, 6);
    }
    this.chunks.push(b);
  }
  item(tag: number, length: number): void {
    this.head(tag, null, length);
  }
  elements(list: El[]): void {
    for (const el of list) {
      if ((el.tag & 0xffff) === 0) continue; // group lengths dropped
      const vr = this.explicit ? (el.vr ?? dictVr(el.tag)) : null;
      if (el.items) {
        this.head(el.tag, this.explicit ? "SQ" : null, 0xffffffff);
        for (const it of el.items) {
          this.item(0xfffee000, 0xffffffff);
          this.elements(it);
          this.item(0xfffee00d, 0);
        }
        this.item(0xfffee0dd, 0);
      } else if (el.rawUndefined) {
        this.head(el.tag, vr, 0xffffffff);
        this.raw(el.rawUndefined);
      } else {
        this.head(el.tag, vr, el.value!.length);
        this.raw(el.value!);
      }
    }
  }
  result(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function metaOf(buf: Buffer): { elements: El[]; end: number; ts: string } | undefined {
  if (buf.length < 132 || buf.toString("latin1", 128, 132) !== "DICM") return undefined;
  const r = new Reader(buf, 132, true, true);
  const elements: El[] = [];
  while (r.pos + 8 <= buf.length && r.tag() >>> 16 === 0x0002) elements.push(readElement(r));
  const tsEl = elements.find((e) => e.tag === 0x00020010);
  const ts = tsEl?.value?.toString("latin1").replace(/[\0 ]+$/, "") ?? IMPLICIT_LE;
  return { elements, end: r.pos, ts };
}

function decompressWithDcmtk(buf: Buffer, ts: string): Buffer | undefined {
  const tool = DECODERS[ts];
  if (!tool) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), "xnat-decompress-"));
  try {
    writeFileSync(path.join(dir, "in.dcm"), buf);
    const r = spawnSync(tool, ["-q", "+te", path.join(dir, "in.dcm"), path.join(dir, "out.dcm")], { stdio: "ignore" });
    if (r.status !== 0) return undefined;
    return readFileSync(path.join(dir, "out.dcm"));
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bytes XNAT stores for an imported DICOM file (see the header of this file). */
export function rewriteLikeDcm4che2(input: Buffer, options: RewriteOptions = {}): RewriteResult {
  let buf = input;
  let meta = metaOf(buf);
  if (!meta) return { data: input, transferSyntax: IMPLICIT_LE, decompressed: false };
  let decompressed = false;
  let stopTag = options.stopTag ?? DEFAULT_STOP_TAG;
  if (options.decompress) {
    const out = decompressWithDcmtk(buf, meta.ts);
    const m = out && metaOf(out);
    if (out && m) {
      buf = out;
      meta = m;
      decompressed = true;
      stopTag = 0xffffffff; // the decompressed object is written whole by DicomOutputStream
    }
  }
  const ts = meta.ts;
  if (ts === DEFLATED) return { data: buf, transferSyntax: ts, decompressed }; // assumed: stored as sent
  const explicit = ts !== IMPLICIT_LE;
  const le = ts !== EXPLICIT_BE;
  const r = new Reader(buf, meta.end, explicit, le);
  const head: El[] = [];
  while (r.pos + 8 <= buf.length && r.tag() < stopTag) head.push(readElement(r));
  const rest = buf.subarray(r.pos);

  const metaWriter = new Writer(true, true);
  metaWriter.elements(meta.elements);
  const metaBytes = metaWriter.result();
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt16LE(0x0002, 0);
  groupLength.writeUInt16LE(0x0000, 2);
  groupLength.write("UL", 4, "latin1");
  groupLength.writeUInt16LE(4, 6);
  groupLength.writeUInt32LE(metaBytes.length, 8);

  const ds = new Writer(explicit, le);
  ds.elements(head);
  const data = Buffer.concat([Buffer.alloc(128), Buffer.from("DICM", "latin1"), groupLength, metaBytes, ds.result(), rest]);
  return { data, transferSyntax: ts, decompressed };
}
