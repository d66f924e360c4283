// The DICOM JSON Model (PS3.18 Annex F) of a parsed dataset, for WADO-RS metadata: every element
// with its VR and values; binary values (OB, OW, OF, OD, OL, OV, UN) larger than a threshold and the
// pixel data become a BulkDataURI pointing at the instance's bulkdata resource, smaller ones are
// InlineBinary. Group lengths and the File Meta group are left out.
import { findElement, stringValue, valueBytes, type Dataset, type Element } from "@/lib/dicom/parse";
import { TAG } from "@/lib/dicom/dictionary";
import { decodeText } from "./charset";

export type DicomJsonValue = string | number | null | DicomJsonPN | DicomJsonDataset;
export interface DicomJsonPN {
  Alphabetic?: string;
  Ideographic?: string;
  Phonetic?: string;
}
export interface DicomJsonAttribute {
  vr: string;
  Value?: DicomJsonValue[];
  InlineBinary?: string;
  BulkDataURI?: string;
}
export type DicomJsonDataset = Record<string, DicomJsonAttribute>;

export const BINARY_VRS = new Set(["OB", "OW", "OF", "OD", "OL", "OV", "UN"]);
const SPLIT_TEXT_VRS = new Set(["AE", "AS", "CS", "DA", "DT", "LO", "SH", "TM", "UC", "UI"]);
const SINGLE_TEXT_VRS = new Set(["LT", "ST", "UT", "UR"]);
const CHARSET_VRS = new Set(["LO", "LT", "PN", "SH", "ST", "UC", "UT"]);

/** Binary values up to this many bytes are inlined (base64); larger ones are bulk data. */
export const INLINE_BINARY_MAX = 1024;

export function tagHex(tag: number): string {
  return tag.toString(16).toUpperCase().padStart(8, "0");
}

export interface JsonOptions {
  littleEndian: boolean;
  /** The instance's bulkdata base, e.g. https://host/dicomweb/projects/P/studies/1/series/2/instances/3/bulkdata */
  bulkDataBase: string;
  inlineBinaryMax?: number;
}

function numbers(el: Element, le: boolean): number[] {
  const b = valueBytes(el);
  const out: number[] = [];
  const read = (size: number, f: (o: number) => number) => {
    for (let o = 0; o + size <= b.length; o += size) out.push(f(o));
  };
  switch (el.vr) {
    case "US":
      read(2, (o) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o)));
      break;
    case "SS":
      read(2, (o) => (le ? b.readInt16LE(o) : b.readInt16BE(o)));
      break;
    case "UL":
      read(4, (o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o)));
      break;
    case "SL":
      read(4, (o) => (le ? b.readInt32LE(o) : b.readInt32BE(o)));
      break;
    case "FL":
      read(4, (o) => (le ? b.readFloatLE(o) : b.readFloatBE(o)));
      break;
    case "FD":
      read(8, (o) => (le ? b.readDoubleLE(o) : b.readDoubleBE(o)));
      break;
    case "UV":
      read(8, (o) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)));
      break;
    case "SV":
      read(8, (o) => Number(le ? b.readBigInt64LE(o) : b.readBigInt64BE(o)));
      break;
  }
  return out;
}

function attribute(el: Element, ds: Dataset, charset: string | undefined, opts: JsonOptions, path: string): DicomJsonAttribute {
  const vr = el.vr === "NA" ? "UN" : el.vr;
  if (el.items) {
    return { vr: "SQ", ...(el.items.length ? { Value: el.items.map((item, i) => toDicomJson(item, opts, `${path}/${i}`, charset)) } : {}) };
  }
  if (el.inSource || el.fragments || el.tag === TAG.PixelData) {
    return { vr: el.fileVr === "OB" || el.fragments ? "OB" : vr === "OW" || vr === "OB" ? vr : "OW", BulkDataURI: `${opts.bulkDataBase}/${path}` };
  }
  if (el.length === 0) return { vr };
  if (BINARY_VRS.has(vr)) {
    if (el.length > (opts.inlineBinaryMax ?? INLINE_BINARY_MAX)) return { vr, BulkDataURI: `${opts.bulkDataBase}/${path}` };
    return { vr, InlineBinary: valueBytes(el).toString("base64") };
  }
  if (vr === "SQ") return { vr };
  if (vr === "AT") {
    const b = valueBytes(el);
    const tags: string[] = [];
    for (let o = 0; o + 4 <= b.length; o += 4) {
      const g = opts.littleEndian ? b.readUInt16LE(o) : b.readUInt16BE(o);
      const e = opts.littleEndian ? b.readUInt16LE(o + 2) : b.readUInt16BE(o + 2);
      tags.push(tagHex(((g << 16) | e) >>> 0));
    }
    return { vr, Value: tags };
  }
  if (["US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"].includes(vr)) {
    const v = numbers(el, opts.littleEndian);
    return v.length ? { vr, Value: v } : { vr };
  }
  const bytes = valueBytes(el);
  const text = CHARSET_VRS.has(vr) ? decodeText(bytes, charset) : bytes.toString("latin1");
  if (vr === "PN") {
    const values = text.replace(/[\0 ]+$/, "").split("\\").map((v): DicomJsonValue => {
      const [a, i, p] = v.split("=");
      const pn: DicomJsonPN = {};
      if (a) pn.Alphabetic = a.trim();
      if (i) pn.Ideographic = i.trim();
      if (p) pn.Phonetic = p.trim();
      return Object.keys(pn).length ? pn : null;
    });
    return values.every((v) => v === null) ? { vr } : { vr, Value: values };
  }
  if (vr === "DS" || vr === "IS") {
    const values = text.split("\\").map((v) => {
      const t = v.trim();
      if (t === "") return null;
      const n = Number(t);
      return Number.isFinite(n) ? n : null;
    });
    return values.every((v) => v === null) ? { vr } : { vr, Value: values };
  }
  if (SINGLE_TEXT_VRS.has(vr)) {
    const t = text.replace(/[\0 ]+$/, "");
    return t ? { vr, Value: [t] } : { vr };
  }
  if (SPLIT_TEXT_VRS.has(vr)) {
    const values = text
      .replace(/[\0 ]+$/, "")
      .split("\\")
      .map((v) => {
        const t = vr === "UI" ? v.replace(/\0+$/, "").trim() : v.trim();
        return t === "" ? null : t;
      });
    return values.every((v) => v === null) ? { vr } : { vr, Value: values };
  }
  // An unexpected VR: keep it as binary.
  return { vr: "UN", InlineBinary: bytes.toString("base64") };
}

/**
 * The DICOM JSON of a dataset. `path` is the bulkdata path of this dataset ("" at the top, then
 * "<tag>/<item index>/…"), so each BulkDataURI is `<bulkDataBase>/<tag path>`.
 */
export function toDicomJson(ds: Dataset, opts: JsonOptions, path = "", inheritedCharset?: string): DicomJsonDataset {
  const charset = findElement(ds, TAG.SpecificCharacterSet) ? stringValue(ds, TAG.SpecificCharacterSet) : inheritedCharset;
  const out: DicomJsonDataset = {};
  for (const el of ds.elements) {
    const group = el.tag >>> 16;
    if ((el.tag & 0xffff) === 0 || group === 0x0002 || group === 0xfffc || group === 0xfffe) continue;
    const hex = tagHex(el.tag);
    out[hex] = attribute(el, ds, charset, opts, path ? `${path}/${hex}` : hex);
  }
  return out;
}

/** The element a bulkdata path ("7FE00010", "00540016/0/00181074") names, or undefined. */
export function elementAtPath(ds: Dataset, path: string[]): Element | undefined {
  if (path.length === 0 || path.length % 2 === 0) return undefined;
  let cur: Dataset = ds;
  for (let i = 0; i < path.length; i += 2) {
    if (!/^[0-9A-Fa-f]{8}$/.test(path[i]!)) return undefined;
    const el = findElement(cur, parseInt(path[i]!, 16) >>> 0);
    if (!el) return undefined;
    if (i === path.length - 1) return el;
    if (!/^\d{1,6}$/.test(path[i + 1]!)) return undefined;
    const item = el.items?.[Number(path[i + 1])];
    if (!item) return undefined;
    cur = item;
  }
  return undefined;
}
