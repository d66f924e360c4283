// The header values routing rules read, from a staged file: the file is parsed with lib/dicom's
// tokenizer, which locates pixel data without reading it (a large file is read on demand, header
// first). Values are identifying: callers must never log them or put them in reasons.
import { FileSource, BufferSource, type ByteSource } from "@/lib/dicom/source";
import { DicomParseError, findElement, parseDicom, valueBytes, type Dataset } from "@/lib/dicom/parse";
import { STRING_VRS } from "@/lib/dicom/dictionary";
import type { HeaderLookup } from "./language";

function binaryValues(buf: Buffer, vr: string, le: boolean): string | undefined {
  const spec: Record<string, [number, (o: number) => number | bigint]> = {
    US: [2, (o) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o))],
    SS: [2, (o) => (le ? buf.readInt16LE(o) : buf.readInt16BE(o))],
    UL: [4, (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o))],
    SL: [4, (o) => (le ? buf.readInt32LE(o) : buf.readInt32BE(o))],
    FL: [4, (o) => (le ? buf.readFloatLE(o) : buf.readFloatBE(o))],
    FD: [8, (o) => (le ? buf.readDoubleLE(o) : buf.readDoubleBE(o))],
    SV: [8, (o) => (le ? buf.readBigInt64LE(o) : buf.readBigInt64BE(o))],
    UV: [8, (o) => (le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o))],
  };
  const s = spec[vr];
  if (!s) return undefined;
  const [size, read] = s;
  const out: string[] = [];
  for (let o = 0; o + size <= buf.length && out.length < 64; o += size) out.push(String(read(o)));
  return out.join("\\");
}

/** A lookup over a parsed dataset (and its file meta group). */
export function headerLookup(meta: Dataset, dataset: Dataset, littleEndian: boolean): HeaderLookup {
  return (tag) => {
    const group2 = tag >>> 16 === 0x0002;
    const el = findElement(group2 ? meta : dataset, tag);
    if (!el) return undefined;
    if (el.items || el.inSource || el.fragments) return "";
    const bytes = valueBytes(el);
    if (STRING_VRS.has(el.vr)) return bytes.toString("latin1").replace(/[\0 ]+$/, "").replace(/^ +/, "");
    // Group 2 is always little endian.
    return binaryValues(bytes, el.vr, group2 || littleEndian) ?? "";
  };
}

export class NotReadableError extends Error {
  constructor(readonly code: string) {
    super(`The file cannot be read as DICOM (${code}).`);
    this.name = "NotReadableError";
  }
}

/** Reads the header of a DICOM file or buffer for rule evaluation; throws NotReadableError. */
export function readRuleHeader(input: string | Buffer): HeaderLookup {
  let source: ByteSource;
  try {
    source = typeof input === "string" ? new FileSource(input) : new BufferSource(input);
  } catch {
    throw new NotReadableError("missing");
  }
  try {
    const parsed = parseDicom(source);
    return headerLookup(parsed.meta, parsed.dataset, parsed.syntax.littleEndian || parsed.syntax.deflated);
  } catch (e) {
    if (e instanceof DicomParseError) throw new NotReadableError(e.code);
    if (e instanceof RangeError) throw new NotReadableError("truncated");
    throw e;
  } finally {
    source.close?.();
  }
}
