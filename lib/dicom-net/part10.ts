// DICOM Part 10 file framing (PS3.10 §7.1): the 128-byte preamble, "DICM" and the group-0002 File Meta
// Information, written and read without parsing the dataset itself. Reading also copes with files that
// lack the preamble (a bare meta group or a bare dataset), which DCMTK and older software produce.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { constants as zlibConstants, inflateRawSync } from "node:zlib";
import { ATRIUM_IMPLEMENTATION_CLASS_UID, ATRIUM_IMPLEMENTATION_VERSION, TS } from "./uids";

export interface FileMetaFields {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  /** (0002,0016) Source AE Title, (0002,0017) Sending AE Title, (0002,0018) Receiving AE Title. */
  sourceAe?: string;
  sendingAe?: string;
  receivingAe?: string;
  implementationClassUid?: string;
  implementationVersionName?: string;
}

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

function pad(value: string, padChar: string): Buffer {
  const b = Buffer.from(value, "latin1");
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from(padChar, "latin1")]);
}

function explicitLeElement(group: number, element: number, vr: string, value: Buffer): Buffer {
  const long = LONG_VRS.has(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, "latin1");
  if (long) head.writeUInt32LE(value.length, 8);
  else {
    if (value.length > 0xffff) throw new Error(`value too long for ${vr}`);
    head.writeUInt16LE(value.length, 6);
  }
  return Buffer.concat([head, value]);
}

/** An AE title fit for the meta header: printable ASCII without backslash, ≤ 16 characters, trimmed. */
export function cleanAeTitle(ae: string | undefined): string | undefined {
  if (ae === undefined) return undefined;
  const t = ae.trim();
  return t.length > 0 && t.length <= 16 && /^[\x20-\x5b\x5d-\x7e]+$/.test(t) ? t : undefined;
}

/**
 * Preamble (128 zero bytes), "DICM" and a PS3.10-conformant group 0002 in Explicit VR Little Endian,
 * including (0002,0000) File Meta Information Group Length.
 */
export function buildFileMetaHeader(f: FileMetaFields): Buffer {
  const els: Buffer[] = [
    explicitLeElement(0x0002, 0x0001, "OB", Buffer.from([0x00, 0x01])),
    explicitLeElement(0x0002, 0x0002, "UI", pad(f.sopClassUid, "\0")),
    explicitLeElement(0x0002, 0x0003, "UI", pad(f.sopInstanceUid, "\0")),
    explicitLeElement(0x0002, 0x0010, "UI", pad(f.transferSyntaxUid, "\0")),
    explicitLeElement(0x0002, 0x0012, "UI", pad(f.implementationClassUid ?? ATRIUM_IMPLEMENTATION_CLASS_UID, "\0")),
    explicitLeElement(0x0002, 0x0013, "SH", pad(f.implementationVersionName ?? ATRIUM_IMPLEMENTATION_VERSION, " ")),
  ];
  const aes: Array<[number, string | undefined]> = [
    [0x0016, cleanAeTitle(f.sourceAe)],
    [0x0017, cleanAeTitle(f.sendingAe)],
    [0x0018, cleanAeTitle(f.receivingAe)],
  ];
  for (const [element, ae] of aes) if (ae) els.push(explicitLeElement(0x0002, element, "AE", pad(ae, " ")));
  const body = Buffer.concat(els);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length, 0);
  return Buffer.concat([Buffer.alloc(128), Buffer.from("DICM", "latin1"), explicitLeElement(0x0002, 0x0000, "UL", groupLength), body]);
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface Part10Info {
  /** Byte offset where the dataset (after the meta group) starts. */
  datasetOffset: number;
  transferSyntaxUid: string;
  sopClassUid?: string;
  sopInstanceUid?: string;
  /** The UIDs as found in the dataset itself (undefined when absent or the dataset could not be walked). */
  datasetSopClassUid?: string;
  datasetSopInstanceUid?: string;
  /** The UIDs as the meta header (0002,0002)/(0002,0003) gives them. */
  metaSopClassUid?: string;
  metaSopInstanceUid?: string;
  /** "part10": preamble + DICM; "meta-only": group 0002 without preamble; "dataset": no meta at all (syntax guessed). */
  framing: "part10" | "meta-only" | "dataset";
}

export class NotDicomError extends Error {}

function trimUid(b: Buffer): string {
  return b.toString("latin1").replace(/[\0 ]+$/, "").trim();
}

const VR_RE = /^[A-Z]{2}$/;

/** Parses the meta group starting at `off` (explicit LE as PS3.10 requires; implicit LE tolerated). */
function parseMeta(buf: Buffer, off: number): { end: number; ts?: string; sopClass?: string; sopInstance?: string; needMore?: number } {
  let pos = off;
  let groupEnd: number | undefined;
  let ts: string | undefined, sopClass: string | undefined, sopInstance: string | undefined;
  while (pos + 8 <= buf.length) {
    const group = buf.readUInt16LE(pos);
    if (group !== 0x0002 || (groupEnd !== undefined && pos >= groupEnd)) break;
    const element = buf.readUInt16LE(pos + 2);
    const vr = buf.toString("latin1", pos + 4, pos + 6);
    let len: number, hdr: number;
    if (VR_RE.test(vr)) {
      if (LONG_VRS.has(vr)) {
        if (pos + 12 > buf.length) return { end: pos, needMore: pos + 12 };
        len = buf.readUInt32LE(pos + 8);
        hdr = 12;
      } else {
        len = buf.readUInt16LE(pos + 6);
        hdr = 8;
      }
    } else {
      len = buf.readUInt32LE(pos + 4);
      hdr = 8;
    }
    if (len === 0xffffffff) throw new NotDicomError("undefined length in file meta information");
    const vstart = pos + hdr;
    if (vstart + len > buf.length) return { end: pos, needMore: vstart + len };
    const value = buf.subarray(vstart, vstart + len);
    if (element === 0x0000 && len === 4) groupEnd = vstart + 4 + value.readUInt32LE(0);
    else if (element === 0x0002) sopClass = trimUid(value);
    else if (element === 0x0003) sopInstance = trimUid(value);
    else if (element === 0x0010) ts = trimUid(value);
    pos = vstart + len;
  }
  return { end: pos, ts, sopClass, sopInstance };
}

interface WalkSyntax {
  explicit: boolean;
  little: boolean;
}

/**
 * Finds SOP Class UID (0008,0016) and SOP Instance UID (0008,0018) in a dataset by walking its top
 * level (sequences of undefined length are skipped item by item). Stops after (0008,0018).
 */
export function findSopUidsInDataset(buf: Buffer, start: number, syntax: WalkSyntax): { sopClassUid?: string; sopInstanceUid?: string } {
  const out: { sopClassUid?: string; sopInstanceUid?: string } = {};
  const u16 = (p: number) => (syntax.little ? buf.readUInt16LE(p) : buf.readUInt16BE(p));
  const u32 = (p: number) => (syntax.little ? buf.readUInt32LE(p) : buf.readUInt32BE(p));

  // Returns the position after the element at `pos`, or -1 when the buffer ends first.
  const skipUndefinedItems = (pos: number): number => {
    // Inside a sequence of undefined length: items until (FFFE,E0DD).
    for (;;) {
      if (pos + 8 > buf.length) return -1;
      const g = u16(pos), e = u16(pos + 2), len = u32(pos + 4);
      pos += 8;
      if (g === 0xfffe && e === 0xe0dd) return pos;
      if (g !== 0xfffe || e !== 0xe000) throw new NotDicomError("malformed sequence");
      if (len !== 0xffffffff) {
        pos += len;
        continue;
      }
      // item of undefined length: elements until (FFFE,E00D)
      for (;;) {
        if (pos + 8 > buf.length) return -1;
        if (u16(pos) === 0xfffe && u16(pos + 2) === 0xe00d) {
          pos += 8;
          break;
        }
        const next = elementEnd(pos, true);
        if (next < 0) return -1;
        pos = next;
      }
    }
  };
  const elementEnd = (pos: number, nested: boolean): number => {
    if (pos + 8 > buf.length) return -1;
    const group = u16(pos);
    let len: number, hdr: number, vr = "";
    const implicitHere = !syntax.explicit || group === 0xfffe;
    if (implicitHere) {
      len = u32(pos + 4);
      hdr = 8;
    } else {
      vr = buf.toString("latin1", pos + 4, pos + 6);
      if (LONG_VRS.has(vr)) {
        if (pos + 12 > buf.length) return -1;
        len = u32(pos + 8);
        hdr = 12;
      } else {
        len = u16(pos + 6);
        hdr = 8;
      }
    }
    if (len === 0xffffffff) return skipUndefinedItems(pos + hdr);
    void nested;
    return pos + hdr + len;
  };

  let pos = start;
  while (pos + 8 <= buf.length) {
    const group = u16(pos), element = u16(pos + 2);
    if (group > 0x0008 || (group === 0x0008 && element > 0x0018)) break;
    const end = elementEnd(pos, false);
    if (end < 0 || end > buf.length) break;
    if (group === 0x0008 && (element === 0x0016 || element === 0x0018)) {
      const hdr = syntax.explicit && LONG_VRS.has(buf.toString("latin1", pos + 4, pos + 6)) ? 12 : 8; // UN when VR was lost
      const value = trimUid(buf.subarray(pos + hdr, end));
      if (element === 0x0016) out.sopClassUid = value;
      else out.sopInstanceUid = value;
    }
    pos = end;
  }
  return out;
}

function syntaxOf(ts: string): WalkSyntax | undefined {
  if (ts === TS.ImplicitVRLittleEndian) return { explicit: false, little: true };
  if (ts === TS.ExplicitVRBigEndian) return { explicit: true, little: false };
  if (ts === TS.DeflatedExplicitVRLittleEndian) return undefined;
  return { explicit: true, little: true }; // every other syntax is explicit VR little endian
}

const HEAD_BYTES = 256 * 1024;
const FIRST_BYTES = 16 * 1024;

/**
 * The framing of a file from its first bytes (`buf`, `size` the file's length). Returns the info, or
 * how many leading bytes it needs to decide (then call again with that many). Throws NotDicomError.
 */
function part10InfoFrom(buf: Buffer, size: number): Part10Info | { needBytes: number } {
  if (size === 0) throw new NotDicomError("empty file");
  let framing: Part10Info["framing"];
  let metaStart: number;
  if (buf.length >= 132 && buf.toString("latin1", 128, 132) === "DICM") {
    framing = "part10";
    metaStart = 132;
  } else if (buf.length >= 8 && buf.readUInt16LE(0) === 0x0002) {
    framing = "meta-only";
    metaStart = 0;
  } else if (buf.length >= 8 && buf.readUInt16LE(0) === 0x0008) {
    // A bare dataset: decide explicit vs implicit little endian from the bytes after the first tag.
    const explicit = VR_RE.test(buf.toString("latin1", 4, 6));
    const ts = explicit ? TS.ExplicitVRLittleEndian : TS.ImplicitVRLittleEndian;
    const uids = findSopUidsInDataset(buf, 0, { explicit, little: true });
    return {
      datasetOffset: 0,
      transferSyntaxUid: ts,
      framing: "dataset",
      ...uids,
      datasetSopClassUid: uids.sopClassUid,
      datasetSopInstanceUid: uids.sopInstanceUid,
    };
  } else {
    throw new NotDicomError("not DICOM (no DICM prefix and no recognisable group 0002/0008 start)");
  }
  const meta = parseMeta(buf, metaStart);
  if (meta.needMore && meta.needMore <= size && meta.needMore > buf.length) return { needBytes: meta.needMore + 1024 };
  if (!meta.ts) throw new NotDicomError("file meta information has no Transfer Syntax UID");
  // The dataset's own (0008,0016)/(0008,0018) are what a C-STORE must carry; some files' meta
  // headers disagree with them. Fall back to the meta values when the dataset cannot be walked.
  let found: { sopClassUid?: string; sopInstanceUid?: string };
  try {
    if (meta.ts === TS.DeflatedExplicitVRLittleEndian) {
      const ds = inflateRawSync(buf.subarray(meta.end), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      found = findSopUidsInDataset(ds, 0, { explicit: true, little: true });
    } else found = findSopUidsInDataset(buf, meta.end, syntaxOf(meta.ts)!);
  } catch {
    found = {};
  }
  if ((!found.sopClassUid || !found.sopInstanceUid) && buf.length < size && buf.length < HEAD_BYTES) return { needBytes: HEAD_BYTES };
  const sopClassUid = found.sopClassUid || meta.sopClass || undefined;
  const sopInstanceUid = found.sopInstanceUid || meta.sopInstance || undefined;
  return {
    datasetOffset: meta.end,
    transferSyntaxUid: meta.ts,
    sopClassUid,
    sopInstanceUid,
    datasetSopClassUid: found.sopClassUid || undefined,
    datasetSopInstanceUid: found.sopInstanceUid || undefined,
    metaSopClassUid: meta.sopClass || undefined,
    metaSopInstanceUid: meta.sopInstance || undefined,
    framing,
  };
}

/** The framing of a file already read whole (no further reads). Throws NotDicomError with a reason. */
export function part10InfoOfBuffer(buf: Buffer): Part10Info {
  // The same leading bytes as readPart10Info looks at (the same answer for the same file).
  let want = FIRST_BYTES;
  for (let i = 0; ; i++) {
    const head = buf.subarray(0, Math.min(want, buf.length));
    const r = part10InfoFrom(head, buf.length);
    if (!("needBytes" in r)) return r;
    if (i >= 2 || r.needBytes <= head.length) throw new NotDicomError("file meta information runs past the end of the file");
    want = r.needBytes;
  }
}

/**
 * Reads the framing of a DICOM file: where its dataset starts, its transfer syntax and SOP class and
 * instance (from the meta group, else from the dataset). Throws NotDicomError with a reason.
 * The meta group and the dataset's SOP UIDs (group 0008) are near the start: 16 KB are read first,
 * and more only when they are not found there (bench/forward.ts: reading 256 KB of every file to
 * scan it cost as much as sending it).
 */
export async function readPart10Info(path: string): Promise<Part10Info> {
  const fh = await open(path, "r");
  try {
    const size = (await fh.stat()).size;
    let want = FIRST_BYTES;
    for (let i = 0; ; i++) {
      const b = Buffer.allocUnsafe(Math.min(want, size));
      const { bytesRead } = size ? await fh.read(b, 0, b.length, 0) : { bytesRead: 0 };
      const r = part10InfoFrom(b.subarray(0, bytesRead), size);
      if (!("needBytes" in r)) return r;
      if (i >= 2 || r.needBytes <= bytesRead) throw new NotDicomError("file meta information runs past the end of the file");
      want = r.needBytes;
    }
  } finally {
    await fh.close();
  }
}

/**
 * readPart10Info with synchronous reads: for files on local storage, where a thread-pool round trip
 * per open/stat/read/close costs several times the read itself (bench/forward.ts). `size`: the file's
 * length when known (its fstat is then skipped).
 */
export function readPart10InfoSync(path: string, size?: number): Part10Info & { sizeBytes: number } {
  const fd = openSync(path, "r");
  try {
    const length = size ?? fstatSync(fd).size;
    let want = FIRST_BYTES;
    for (let i = 0; ; i++) {
      const b = Buffer.allocUnsafe(Math.min(want, length));
      const bytesRead = length ? readSync(fd, b, 0, b.length, 0) : 0;
      const r = part10InfoFrom(b.subarray(0, bytesRead), length);
      if (!("needBytes" in r)) return { ...r, sizeBytes: length };
      if (i >= 2 || r.needBytes <= bytesRead) throw new NotDicomError("file meta information runs past the end of the file");
      want = r.needBytes;
    }
  } finally {
    closeSync(fd);
  }
}
