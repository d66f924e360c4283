// A project's pixel rules (CTP DicomPixelAnonymizer style) and the pixel review of held instances:
// signatures built from header conditions, the rules as a CTP script, and blanking a de-identified
// file at release. Pure: no database, no files (the caller reads and writes bytes).
import { z } from "zod";
import { TAG } from "./dictionary";
import { findElement, numberValue, parseDicom, stringValue, type Dataset, type Element, type ParsedFile } from "./parse";
import { evalFilter, applyPixelRules, type PixelScript, type Region } from "./pixel";
import { BufferSource } from "./source";
import { encodeFile, encodedToBuffer } from "./write";
import { encodeValue } from "./values";
import { CLEAN_PIXEL_CODE } from "./profile";

export const MAX_REGIONS = 64;
const MAX_SIDE = 65535;

export const regionSchema = z
  .object({
    x: z.number().int().min(-MAX_SIDE).max(MAX_SIDE),
    y: z.number().int().min(-MAX_SIDE).max(MAX_SIDE),
    w: z.number().int().min(1, "a region must be at least 1 pixel wide").max(MAX_SIDE),
    h: z.number().int().min(1, "a region must be at least 1 pixel high").max(MAX_SIDE),
  })
  .strict();
export const regionsSchema = z.array(regionSchema).max(MAX_REGIONS, `at most ${MAX_REGIONS} regions per rule`);

/** Header attributes a signature built in the portal may test (all kept by the Basic profile). */
export const SIGNATURE_KEYWORDS = ["Manufacturer", "ManufacturerModelName", "Modality", "SOPClassUID", "Rows", "Columns"] as const;
export type SignatureKeyword = (typeof SIGNATURE_KEYWORDS)[number];
export const conditionSchema = z.object({ keyword: z.enum(SIGNATURE_KEYWORDS), value: z.string().max(200) }).strict();

export class SignatureError extends Error {
  override readonly name = "SignatureError";
}

/** `Manufacturer.equals("ACME") * Rows.equals("480")`; an empty list is `true.` (every image). */
export function signatureFromConditions(conditions: { keyword: SignatureKeyword; value: string }[]): string {
  if (!conditions.length) return "true.";
  return conditions.map((c) => `${c.keyword}.equals("${c.value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}")`).join(" * ");
}

/** Throws SignatureError saying what is wrong when `expr` is not a DicomFilter expression. */
export function checkSignature(expr: string): void {
  if (!expr.trim()) throw new SignatureError("The signature is empty: write a condition such as Manufacturer.equals(\"ACME\"), or true. for every image.");
  if (/[{}]/.test(expr)) throw new SignatureError("A signature cannot contain { or }: write only the expression inside the braces.");
  try {
    evalFilter(expr, { elements: [], undefinedLength: false } as Dataset);
  } catch (e) {
    throw new SignatureError(`The signature does not parse (${(e as Error).message}). Use Keyword.equals("value") terms joined by * (and), + (or), ! (not) and parentheses.`);
  }
}

export interface StoredRule {
  id: string;
  signature: string;
  regions: Region[];
  description: string;
  enabled: boolean;
}

/** The enabled rules, in order, as the engine's pixel script (first matching signature wins). */
export function pixelScriptOf(rules: StoredRule[]): PixelScript | undefined {
  const enabled = rules.filter((r) => r.enabled);
  return enabled.length ? { signatures: enabled.map((r) => ({ expr: r.signature, regions: r.regions })) } : undefined;
}

/** The rules as a CTP DicomPixelAnonymizer script (what CTP would read). */
export function formatPixelScript(rules: StoredRule[]): string {
  const lines = ["# Atrium pixel rules, CTP DicomPixelAnonymizer format: { signature } (x,y,w,h)..."];
  for (const r of rules) {
    if (!r.enabled) continue;
    if (r.description) lines.push(`# ${r.description.replace(/[\r\n]+/g, " ")}`);
    lines.push(`{ ${r.signature} }`);
    lines.push(r.regions.length ? `  ${r.regions.map((g) => `(${g.x},${g.y},${g.w},${g.h})`).join("")}` : "  # no regions: matching images need no blanking");
  }
  return `${lines.join("\n")}\n`;
}

/** The index of the first enabled rule whose signature matches the dataset, or -1. */
export function matchingRule(rules: StoredRule[], ds: Dataset, le = true): number {
  return rules.findIndex((r) => r.enabled && evalFilter(r.signature, ds, le));
}

/** What the review needs to know of a de-identified image (no identifying values). */
export interface ImageFacts {
  sopClassUid: string;
  modality: string;
  manufacturer: string;
  modelName: string;
  rows: number;
  columns: number;
  frames: number;
  transferSyntaxUid: string;
  /** Atrium can blank it (native pixel data or RLE Lossless). */
  blankable: boolean;
}

const RLE = "1.2.840.10008.1.2.5";

export function imageFacts(file: ParsedFile): ImageFacts {
  const ds = file.dataset;
  const le = file.syntax.littleEndian;
  const pix = findElement(ds, TAG.PixelData);
  const encapsulated = Boolean(pix?.encapsulated || file.syntax.encapsulated);
  return {
    sopClassUid: stringValue(ds, TAG.SOPClassUID) ?? "",
    modality: stringValue(ds, TAG.Modality) ?? "",
    manufacturer: stringValue(ds, TAG.Manufacturer) ?? "",
    modelName: stringValue(ds, TAG.ManufacturerModelName) ?? "",
    rows: numberValue(ds, TAG.Rows, le) ?? 0,
    columns: numberValue(ds, TAG.Columns, le) ?? 0,
    frames: Math.max(1, Number(stringValue(ds, TAG.NumberOfFrames) ?? 1) || 1),
    transferSyntaxUid: file.syntax.transferSyntaxUID,
    blankable: Boolean(pix) && (!encapsulated || file.syntax.transferSyntaxUID === RLE),
  };
}

export type BlankResult = { kind: "ok"; file: Buffer; regions: number } | { kind: "refused"; reason: string };

/**
 * Blanks `regions` in every frame of a de-identified file and marks it reviewed: Burned In
 * Annotation NO, and Clean Pixel Data Option (113101) added to the De-identification Method Code
 * Sequence. With no regions the reviewer judged the pixels clean: only the marks change.
 */
export function blankReviewedFile(input: Buffer, regions: Region[], fill = 0): BlankResult {
  const file = parseDicom(new BufferSource(input));
  const ds = file.dataset;
  if (regions.length) {
    const r = applyPixelRules(file, { signatures: [{ expr: "true.", regions }], fill });
    if (r.kind === "quarantine") return { kind: "refused", reason: r.reason };
  }
  setValue(ds, TAG.BurnedInAnnotation, "CS", "NO");
  addMethodCode(ds, CLEAN_PIXEL_CODE);
  const ids = { sopClassUID: stringValue(ds, TAG.SOPClassUID) ?? "", sopInstanceUID: stringValue(ds, TAG.SOPInstanceUID) ?? "" };
  const out = encodedToBuffer(encodeFile(ds, file.syntax, ids, file.pixelSource));
  return { kind: "ok", file: out, regions: regions.length };
}

function el(tag: number, vr: string, value: string): Element {
  return { tag, vr, fileVr: null, buf: Buffer.alloc(0), valueOffset: 0, length: 0, undefinedLength: false, newValue: encodeValue(vr, value) };
}

function setValue(ds: Dataset, tag: number, vr: string, value: string) {
  const e = el(tag, vr, value);
  const i = ds.elements.findIndex((x) => x.tag >= tag);
  if (i < 0) ds.elements.push(e);
  else if (ds.elements[i].tag === tag) ds.elements[i] = e;
  else ds.elements.splice(i, 0, e);
}

function addMethodCode(ds: Dataset, code: { code: string; meaning: string }) {
  const item: Dataset = {
    elements: [el(TAG.CodeValue, "SH", code.code), el(TAG.CodingSchemeDesignator, "SH", "DCM"), el(TAG.CodeMeaning, "LO", code.meaning)],
    undefinedLength: true,
  };
  const seq = findElement(ds, TAG.DeidentificationMethodCodeSequence);
  if (seq?.items) {
    if (!seq.items.some((it) => stringValue(it, TAG.CodeValue) === code.code)) seq.items.push(item);
    return;
  }
  const e: Element = { tag: TAG.DeidentificationMethodCodeSequence, vr: "SQ", fileVr: null, buf: Buffer.alloc(0), valueOffset: 0, length: 0, undefinedLength: true, items: [item] };
  const i = ds.elements.findIndex((x) => x.tag >= e.tag);
  if (i < 0) ds.elements.push(e);
  else if (ds.elements[i].tag === e.tag) ds.elements[i] = e;
  else ds.elements.splice(i, 0, e);
}
