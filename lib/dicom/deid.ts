// The de-identification engine: parse → transform (PS3.15 profile or CTP script) → pixel
// blanking → encode → verification. Every input yields an Outcome; nothing throws out of
// `deidentify` (unexpected internal errors become a quarantine with reason "internal_error").
import { formatTag, isCurveGroup, isOverlayGroup, isPrivate, isPrivateCreator, lookupTag, TAG, TEXT_VRS } from "./dictionary";
import {
  DEFAULT_LIMITS,
  DicomParseError,
  findElement,
  parseDicom,
  stringValue,
  type Dataset,
  type Element,
  type ParsedFile,
  type ParseLimits,
} from "./parse";
import { BASIC_CODE, CLEAN_PIXEL_CODE, compileProfile, OPTION_INFO, type Action, type CompiledProfile } from "./profile";
import { LookupMissError, type PseudonymStore } from "./pseudonyms";
import { DEFAULT_SAFE_PRIVATE, isSafePrivate, type SafePrivateRule } from "./safe-private";
import type { ByteSource } from "./source";
import { BufferSource } from "./source";
import { encodeValue, rawString, scrubText, shiftDateValue, asciiLowerString } from "./values";
import { NeedleSet, verifyOutput } from "./verify";
import { encodeFile, textBytes, type EncodedFile } from "./write";
import type { CtpScript } from "./ctp/script";
import { applyPixelRules, type PixelScript } from "./pixel";
import { checkFloor, collectFloorNeedles, type FloorPolicy } from "./floor";

// ---- outcomes ------------------------------------------------------------------------------

export type QuarantineCode =
  | "not_dicom"
  | "malformed"
  | "unsupported"
  | "too_large"
  | "lookup_miss"
  | "script_quarantine"
  | "verification_failed"
  | "pixel_blanking_unsupported"
  | "burned_in_annotation"
  | "unsafe_content"
  | "store_error"
  | "internal_error";

export interface Deidentified {
  kind: "deidentified";
  pseudonym: string;
  sopClassUID: string;
  studyInstanceUID: string;
  seriesInstanceUID: string;
  sopInstanceUID: string;
  transferSyntaxUID: string;
  /** The output, with pixel data still referenced in the input source (write it before closing). */
  encoded: EncodedFile;
  /** Review flags, e.g. "burned_in_annotation:BurnedInAnnotation=YES". */
  flags: string[];
  /** Non-fatal notes (no values), e.g. an element that could not be rewritten. */
  warnings: string[];
  /** Rectangles blanked in the pixel data. */
  blankedRegions: number;
}
export interface Skipped {
  kind: "skipped";
  reason: string;
}
export interface Quarantined {
  kind: "quarantined";
  code: QuarantineCode;
  reason: string;
  elementPath?: string;
}
export type Outcome = Deidentified | Skipped | Quarantined;

export interface DeidConfig {
  projectId: string;
  store: PseudonymStore;
  /** PS3.15 profile (default: Basic, no options). Ignored when `script` is set. */
  profile?: CompiledProfile;
  /** A CTP DicomAnonymizer script, used instead of the profile. */
  script?: CtpScript;
  /** Pixel blanking rules (CTP DicomPixelAnonymizer format). */
  pixelScript?: PixelScript;
  /** "flag" (default): burned-in annotation candidates are de-identified and flagged for
   * review; "quarantine": held back; "ignore": no flag. */
  burnedIn?: "flag" | "quarantine" | "ignore";
  /** A pixel rule matched but the pixel data cannot be blanked here (compressed): "quarantine"
   * (default), or "flag" (de-identified unblanked, flagged `pixel_blanking_unsupported:` so that
   * the caller holds it for review). */
  pixelBlankingUnsupported?: "quarantine" | "flag";
  /** PS3.15 Clean Pixel Data Option: every image that no pixel rule matched is flagged
   * `clean_pixel_data:` for review (not only the burned-in annotation candidates). */
  cleanPixelData?: boolean;
  safePrivate?: SafePrivateRule[];
  limits?: ParseLimits;
  /** Patient with neither Patient ID nor Patient's Name: "study" (default) gives each study its
   * own subject; "quarantine" holds the file back. */
  missingPatient?: "study" | "quarantine";
  /**
   * The site de-identification floor every output must pass (./floor.ts), whatever the profile
   * or script says. Absent: PS3.15 Basic loosened only by the retain options of `profile` (the
   * caller chose them); a CTP script gets plain Basic. The server always passes the site's.
   */
  floor?: FloorPolicy;
}

const DUMMY_TEXT = "ANONYMIZED";
const DUMMY_PN = "ANONYMOUS";
const DUMMY_DA = "19000101";
const DUMMY_TM = "000000";
const DUMMY_DT = "19000101000000";

function quarantine(code: QuarantineCode, reason: string, elementPath?: string): Quarantined {
  return elementPath ? { kind: "quarantined", code, reason, elementPath } : { kind: "quarantined", code, reason };
}

export function parseErrorOutcome(e: DicomParseError): Quarantined {
  const code: QuarantineCode =
    e.code === "not_dicom" ? "not_dicom" : e.code === "too_large" ? "too_large" : e.code === "unsupported_syntax" ? "unsupported" : "malformed";
  const what: Record<string, string> = {
    not_dicom: "Not a DICOM file",
    truncated: "File is truncated",
    bad_length: "An element has an impossible length",
    bad_vr: "An element has an invalid value representation",
    bad_sequence: "A sequence or item is malformed",
    bad_meta: "The file meta header is malformed",
    too_deep: "Sequences are nested too deeply",
    too_large: "File exceeds the size Atrium de-identifies in memory",
    inflate_failed: "The deflated dataset is corrupt",
    unsupported_syntax: "Unsupported transfer syntax",
  };
  return quarantine(code, `${what[e.code] ?? "Malformed DICOM"}: ${e.message}`, e.elementPath);
}

// ---- shared transform state ------------------------------------------------------------------

export interface TransformState {
  needles: NeedleSet;
  /** Lower-cased values the engine itself wrote. */
  generated: string[];
  /** Lower-cased values of standard elements kept unchanged. */
  kept: string[];
  flags: string[];
  warnings: string[];
  pseudonym: string;
  /** Code sequence entries for (0012,0064). */
  methodCodes: { code: string; meaning: string }[];
  methodText: string[];
}

export interface TransformResult {
  state: TransformState;
}

export type Transform = (file: ParsedFile, config: DeidConfig) => Promise<TransformResult | Outcome>;

function isOutcome(x: TransformResult | Outcome): x is Outcome {
  return "kind" in x;
}

// ---- the engine ------------------------------------------------------------------------------

export async function deidentify(source: ByteSource | Buffer, config: DeidConfig): Promise<Outcome> {
  const src = Buffer.isBuffer(source) ? new BufferSource(source) : source;
  try {
    let file: ParsedFile;
    try {
      file = parseDicom(src, config.limits ?? DEFAULT_LIMITS);
    } catch (e) {
      if (e instanceof DicomParseError) return parseErrorOutcome(e);
      throw e;
    }
    const ds = file.dataset;
    const sopClass = stringValue(ds, TAG.SOPClassUID) ?? stringValue(file.meta, 0x00020002) ?? "";
    if (sopClass === "1.2.840.10008.1.3.10") return { kind: "skipped", reason: "Media Storage Directory (DICOMDIR) is not an image object" };
    if (!sopClass || !stringValue(ds, TAG.SOPInstanceUID)) {
      return quarantine(
        "malformed",
        "SOP Class UID or SOP Instance UID is missing: the object cannot be identified or stored; fix the sender",
        formatTag(!sopClass ? TAG.SOPClassUID : TAG.SOPInstanceUID),
      );
    }

    // Burned-in annotation candidates, judged on the input.
    const burned = burnedInReason(ds, sopClass);

    // The floor's needles, from the input as received (the transform edits the dataset in place).
    const floor = collectFloorNeedles(ds, config.floor ?? { options: config.script ? [] : (config.profile?.options ?? []) });

    // Pixel blanking: signatures are matched on the input header (CTP runs its
    // DicomPixelAnonymizer before the anonymizer); the blanked copy replaces the pixel data.
    let blanked = 0;
    let ruleMatched = false;
    let unblankable: string | undefined;
    if (config.pixelScript) {
      const r = applyPixelRules(file, config.pixelScript);
      ruleMatched = (r.matched ?? -1) >= 0;
      if (r.kind === "quarantine") {
        if (config.pixelBlankingUnsupported !== "flag") return quarantine("pixel_blanking_unsupported", r.reason, "(7FE0,0010)");
        unblankable = r.reason;
      } else blanked = r.regions;
    }

    const transform: Transform = config.script ? (await import("./ctp/engine")).ctpTransform : profileTransform;
    const res = await transform(file, config);
    if (isOutcome(res)) return res;
    const st = res.state;

    if (blanked > 0) st.methodCodes.push(CLEAN_PIXEL_CODE);
    if (unblankable) st.flags.push(`pixel_blanking_unsupported:${unblankable}`);
    else if (burned && config.burnedIn !== "ignore" && !ruleMatched) {
      // A matching rule (with regions, or none: "this scanner model burns in nothing") settles it.
      if (config.burnedIn === "quarantine") return quarantine("burned_in_annotation", `Possible burned-in annotation (${burned}); no blanking rule matched`);
      st.flags.push(`burned_in_annotation:${burned}`);
    } else if ((config.cleanPixelData || config.profile?.options.includes("cleanPixelData")) && !burned && !ruleMatched && findElement(ds, TAG.PixelData)) {
      st.flags.push("clean_pixel_data:Clean Pixel Data option: every image is reviewed unless a pixel rule covers it");
    }

    finishMethod(ds, st);
    const ids = {
      sopClassUID: stringValue(ds, TAG.SOPClassUID) ?? sopClass,
      sopInstanceUID: stringValue(ds, TAG.SOPInstanceUID) ?? "",
    };
    const encoded = encodeFile(ds, file.syntax, ids, file.pixelSource);

    // The floor, checked on the output whatever the transform meant to do. Only an output that
    // passes is released (and so only such an output carries Patient Identity Removed = YES).
    const floorHit = checkFloor(encoded, floor);
    if (floorHit) {
      return quarantine(
        "verification_failed",
        `Site de-identification floor: the value of ${floorHit.needleFrom} in the input is still in the output at ${floorHit.foundAt}. ` +
          "The profile or script keeps what the site floor removes; change it, or have a site admin approve the exception. Output not released",
        floorHit.foundAt,
      );
    }

    // Verification of what the transform itself removed.
    st.needles.dropContainedIn(st.generated);
    st.needles.dropContainedIn(st.kept);
    const hit = verifyOutput(encoded, st.needles.list());
    if (hit) {
      return quarantine(
        "verification_failed",
        `Verification failed: a value identified at ${hit.needleFrom} in the input is still present in the output at ${hit.foundAt}; output not released`,
        hit.foundAt,
      );
    }
    return {
      kind: "deidentified",
      pseudonym: st.pseudonym,
      sopClassUID: ids.sopClassUID,
      studyInstanceUID: stringValue(ds, TAG.StudyInstanceUID) ?? "",
      seriesInstanceUID: stringValue(ds, TAG.SeriesInstanceUID) ?? "",
      sopInstanceUID: ids.sopInstanceUID,
      transferSyntaxUID: file.syntax.transferSyntaxUID,
      encoded,
      flags: st.flags,
      warnings: st.warnings,
      blankedRegions: blanked,
    };
  } catch (e) {
    if (e instanceof DicomParseError) return parseErrorOutcome(e);
    if (e instanceof LookupMissError) return quarantine("lookup_miss", "Patient is not in the project's lookup table: add the patient to the table, then re-run", "(0010,0020)");
    if (e instanceof RangeError) return quarantine("malformed", "Malformed DICOM: a value could not be decoded");
    // Never include the error text: it may quote values.
    return quarantine("internal_error", `Internal error while de-identifying (${(e as Error)?.name ?? "Error"}); report this file's quarantine id`);
  }
}

const SC_OR_US = [
  "1.2.840.10008.5.1.4.1.1.7", // Secondary Capture and the multi-frame SC family (.7.x)
  "1.2.840.10008.5.1.4.1.1.6.1", // US Image
  "1.2.840.10008.5.1.4.1.1.6.2", // Enhanced US Volume
  "1.2.840.10008.5.1.4.1.1.3.1", // US Multi-frame
  "1.2.840.10008.5.1.4.1.1.6", // US Image (retired)
  "1.2.840.10008.5.1.4.1.1.3", // US Multi-frame (retired)
];

export function burnedInReason(ds: Dataset, sopClass: string): string | undefined {
  const bia = stringValue(ds, TAG.BurnedInAnnotation)?.toUpperCase();
  if (bia === "YES") return "BurnedInAnnotation=YES";
  if (bia === "NO") return undefined;
  if (!findElement(ds, TAG.PixelData)) return undefined;
  for (const p of SC_OR_US) if (sopClass === p || sopClass.startsWith(`${p}.`)) return `SOP class ${sopClass} often carries burned-in text`;
  return undefined;
}

function upsert(ds: Dataset, tag: number, vr: string, value: Buffer | null, items?: Dataset[]): void {
  const el: Element = { tag, vr, fileVr: null, buf: Buffer.alloc(0), valueOffset: 0, length: 0, undefinedLength: false };
  if (items) {
    el.items = items;
    el.undefinedLength = true;
  } else el.newValue = value ?? Buffer.alloc(0);
  const i = ds.elements.findIndex((e) => e.tag >= tag);
  if (i < 0) ds.elements.push(el);
  else if (ds.elements[i].tag === tag) {
    const old = ds.elements[i];
    el.fileVr = old.fileVr && old.fileVr !== "UN" ? old.fileVr : null;
    ds.elements[i] = el;
  } else ds.elements.splice(i, 0, el);
}

export function setString(ds: Dataset, tag: number, value: string): void {
  const vr = lookupTag(tag)?.vr ?? "LO";
  upsert(ds, tag, vr, encodeValue(vr, value));
}

function finishMethod(ds: Dataset, st: TransformState): void {
  setString(ds, TAG.PatientIdentityRemoved, "YES");
  if (st.methodText.length) setString(ds, TAG.DeidentificationMethod, st.methodText.join("\\"));
  if (st.methodCodes.length) {
    const seen = new Set<string>();
    const items: Dataset[] = [];
    for (const c of st.methodCodes) {
      if (seen.has(c.code)) continue;
      seen.add(c.code);
      items.push({
        elements: [
          mk(TAG.CodeValue, "SH", c.code),
          mk(TAG.CodingSchemeDesignator, "SH", c.code.startsWith("UNKNOWN") ? "UNKNOWN" : "DCM"),
          mk(TAG.CodeMeaning, "LO", c.meaning),
        ],
        undefinedLength: true,
      });
    }
    upsert(ds, TAG.DeidentificationMethodCodeSequence, "SQ", null, items);
  }
}

function mk(tag: number, vr: string, value: string): Element {
  return { tag, vr, fileVr: null, buf: Buffer.alloc(0), valueOffset: 0, length: 0, undefinedLength: false, newValue: encodeValue(vr, value) };
}

export function patientKeyOf(ds: Dataset): string | undefined {
  const id = stringValue(ds, TAG.PatientID);
  if (id) return `id:${id}`;
  const name = stringValue(ds, TAG.PatientName);
  if (name) return `name:${name}|${stringValue(ds, TAG.PatientBirthDate) ?? ""}`;
  return undefined;
}

// ---- the PS3.15 profile transform ------------------------------------------------------------

type Mode = "normal" | "dummy" | "clean";

interface Op {
  ds: Dataset;
  el: Element;
  action: Action | "PSEUDONYM" | "SCRUB" | "DUMMY";
  path: string;
}

/** The empty state a transform starts from (both the profile and the CTP script transforms). */
export function newTransformState(): TransformState {
  return { needles: new NeedleSet(), generated: [], kept: [], flags: [], warnings: [], pseudonym: "", methodCodes: [], methodText: [] };
}

let basicCache: CompiledProfile | undefined;

export const profileTransform: Transform = async (file, config) => {
  const profile = config.profile ?? (basicCache ??= compileProfile([]));
  const safe = config.safePrivate ?? DEFAULT_SAFE_PRIVATE;
  const ds = file.dataset;
  const st: TransformState = {
    ...newTransformState(),
    methodCodes: [BASIC_CODE, ...profile.options.map((o) => ({ code: OPTION_INFO[o].code, meaning: OPTION_INFO[o].meaning }))],
    methodText: [`ATRIUM PS3.15 E.1 ${profile.edition} BASIC`.slice(0, 64)],
  };
  const ops: Op[] = [];
  const uids = new Set<string>();
  const dates = profile.options.includes("retainLongitudinalModifiedDates");
  const fullDates = profile.options.includes("retainLongitudinalFullDates");

  const plan = (d: Dataset, mode: Mode, path: string, top: boolean) => {
    // Private creators of this dataset, by block.
    const creators = new Map<number, string>();
    for (const el of d.elements) {
      if (isPrivateCreator(el.tag)) creators.set(((el.tag >>> 16) << 8) | (el.tag & 0xff), rawString(el));
    }
    const keptBlocks = new Set<number>();
    for (const el of d.elements) {
      const p = path + formatTag(el.tag);
      const g = el.tag >>> 16;
      const e = el.tag & 0xffff;
      if (top && (el.tag === TAG.PixelData || el.tag === TAG.FloatPixelData || el.tag === TAG.DoubleFloatPixelData)) continue;
      if (e === 0 || g === 0x0002 || (g & 0xfffe) === 0xfffe) {
        // Group lengths (retired, wrong after editing), stray meta or delimiter tags in the dataset.
        ops.push({ ds: d, el, action: "X", path: p });
        continue;
      }
      if (isPrivate(el.tag)) {
        if (isPrivateCreator(el.tag)) continue; // decided after its block
        const block = (g << 8) | (e >> 8);
        const keep = profile.privateAction === "C" && e >= 0x1000 && isSafePrivate(safe, creators.get(block), el.tag);
        if (keep) {
          keptBlocks.add(block);
          if (el.items) plan_seq(el, mode, p);
        } else ops.push({ ds: d, el, action: "X", path: p });
        continue;
      }
      if (isOverlayGroup(el.tag)) {
        // Basic removes the whole overlay group (its other attributes describe data no longer
        // there). Clean Graphics keeps the overlay bitmap (flagged for review: burned-in text
        // cannot be cleaned automatically), cleans Overlay Comments and any other overlay text.
        const act = e === 0x4000 ? profile.overlayComments : profile.overlayData;
        if (act === "X" || profile.overlayData === "X") ops.push({ ds: d, el, action: "X", path: p });
        else {
          if (e === 0x3000 && !st.flags.includes("overlay_retained")) st.flags.push("overlay_retained");
          if (TEXT_VRS.has(el.vr)) ops.push({ ds: d, el, action: "SCRUB", path: p });
        }
        continue;
      }
      if (isCurveGroup(el.tag)) {
        if (profile.curves === "X") ops.push({ ds: d, el, action: "X", path: p });
        else {
          if (!st.flags.includes("curve_retained")) st.flags.push("curve_retained");
          if (TEXT_VRS.has(el.vr)) ops.push({ ds: d, el, action: "SCRUB", path: p });
        }
        continue;
      }
      let action: Action | undefined = profile.actions.get(el.tag);
      if (el.tag === TAG.PatientName || el.tag === TAG.PatientID || el.tag === 0x00120040) {
        collectNeedles(el, p);
        ops.push({ ds: d, el, action: "PSEUDONYM", path: p });
        continue;
      }
      if (action === undefined) {
        if (el.items) {
          plan_seq(el, mode, p);
          continue;
        }
        if (mode === "dummy" && TEXT_VRS.has(el.vr)) {
          collectNeedles(el, p);
          ops.push({ ds: d, el, action: "DUMMY", path: p });
        } else if (mode === "clean" && TEXT_VRS.has(el.vr)) {
          ops.push({ ds: d, el, action: "SCRUB", path: p });
        } else if (TEXT_VRS.has(el.vr) || el.vr === "CS" || el.vr === "DA" || el.vr === "UI") {
          st.kept.push(asciiLowerString(rawString(el)));
        }
        continue;
      }
      switch (action) {
        case "K":
          if (el.items) plan_seq(el, mode, p);
          else if (!(el.vr === "DA" || el.vr === "DT" || el.vr === "TM") || fullDates) st.kept.push(asciiLowerString(rawString(el)));
          break;
        case "X":
        case "Z":
          collectNeedles(el, p);
          ops.push({ ds: d, el, action, path: p });
          break;
        case "D":
          collectNeedles(el, p);
          if (el.items) plan_seq(el, "dummy", p);
          else {
            if (el.vr === "UI") addUids(el);
            ops.push({ ds: d, el, action, path: p });
          }
          break;
        case "U":
          if (el.items) plan_seq(el, mode, p);
          else {
            collectNeedles(el, p);
            if (el.vr === "UI") addUids(el);
            ops.push({ ds: d, el, action, path: p });
          }
          break;
        case "C":
          if (el.items) plan_seq(el, "clean", p);
          else if (el.vr === "DA" || el.vr === "DT") {
            collectNeedles(el, p);
            ops.push({ ds: d, el, action: dates ? "C" : "X", path: p });
          } else if (el.vr === "TM") {
            // Times are kept with modified dates: the date shift carries the longitudinal change.
          } else if (TEXT_VRS.has(el.vr) || el.vr === "AE") ops.push({ ds: d, el, action: "SCRUB", path: p });
          else if (el.vr === "OB" || el.vr === "OW" || el.vr === "UN" || el.vr === "OD" || el.vr === "OF" || el.vr === "OL" || el.vr === "OV") {
            // Opaque bytes (a maker note, a binary timestamp) cannot be cleaned: remove them,
            // which is stricter than C and never leaks.
            collectNeedles(el, p);
            ops.push({ ds: d, el, action: "X", path: p });
            st.warnings.push(`removed ${p}: opaque ${el.vr} value cannot be cleaned`);
          }
          break;
      }
    }
    // Private creators: kept only with a kept element of their block.
    for (const el of d.elements) {
      if (!isPrivateCreator(el.tag)) continue;
      const block = ((el.tag >>> 16) << 8) | (el.tag & 0xff);
      if (!keptBlocks.has(block)) ops.push({ ds: d, el, action: "X", path: path + formatTag(el.tag) });
    }
  };
  const plan_seq = (el: Element, mode: Mode, p: string) => {
    el.items!.forEach((item, i) => plan(item, mode, `${p}[${i}]/`, false));
  };
  const collectNeedles = (el: Element, p: string) => {
    if (el.items || el.inSource) return;
    if (!(TEXT_VRS.has(el.vr) || ["DA", "DT", "TM", "UI", "AE", "AS", "CS", "IS", "UR"].includes(el.vr) || el.vr === "UN")) return;
    st.needles.add(rawString(el), el.vr, p);
  };
  const addUids = (el: Element) => {
    for (const u of rawString(el).split("\\")) if (u.trim()) uids.add(u.trim());
  };

  // Referenced SOP/Study/Series UIDs that are kept by the profile must stay: nothing to do.
  plan(ds, "normal", "", true);

  // Pseudonym, date offset and UID remapping from the store.
  let key = patientKeyOf(ds);
  if (!key) {
    if (config.missingPatient === "quarantine") return quarantine("malformed", "Patient ID and Patient's Name are both empty: cannot assign a pseudonym", "(0010,0020)");
    key = `study:${stringValue(ds, TAG.StudyInstanceUID) ?? stringValue(ds, TAG.SOPInstanceUID)}`;
    st.warnings.push("patient_identity_missing: subject keyed by Study Instance UID");
  }
  let subject;
  let uidMap: Map<string, string>;
  try {
    subject = await config.store.subject(config.projectId, key);
    uidMap = uids.size ? await config.store.mapUids(config.projectId, [...uids]) : new Map();
  } catch (e) {
    if (e instanceof LookupMissError) throw e;
    return quarantine("store_error", "Pseudonym store unavailable; retry later");
  }
  st.pseudonym = subject.pseudonym;
  st.generated.push(asciiLowerString(subject.pseudonym));
  const scrubNeedles = () => st.needles.texts();

  const removed = new Set<Element>();
  for (const op of ops) {
    const el = op.el;
    const set = (v: string) => {
      el.newValue = encodeValue(el.vr, v);
      if (el.fileVr === "UN" && el.vr !== "UN") el.fileVr = null;
      if (v) st.generated.push(asciiLowerString(v));
    };
    switch (op.action) {
      case "X":
        removed.add(el);
        break;
      case "Z":
        if (el.items) el.items = [];
        else set("");
        break;
      case "PSEUDONYM":
        set(subject.pseudonym);
        break;
      case "U":
      case "D":
      case "DUMMY": {
        if (el.items) break;
        if (el.vr === "UI") {
          set(
            rawString(el)
              .split("\\")
              .map((u) => uidMap.get(u.trim()) ?? "")
              .join("\\"),
          );
          break;
        }
        const dv = dummyFor(el);
        if (dv === null) {
          if (el.tag === 0x00420011) {
            return quarantine("unsafe_content", "Encapsulated document (e.g. PDF) cannot be de-identified automatically: review it by hand", op.path);
          }
          removed.add(el);
          st.warnings.push(`removed ${op.path}: no safe dummy for VR ${el.vr}`);
        } else set(dv);
        break;
      }
      case "C": {
        const v = shiftDateValue(el.vr, rawString(el), subject.dateOffsetDays);
        set(v ?? "");
        break;
      }
      case "SCRUB": {
        const v = rawString(el);
        const s = scrubText(v, scrubNeedles());
        if (s !== v) set(s);
        else st.kept.push(asciiLowerString(v));
        break;
      }
    }
  }
  if (removed.size) pruneRemoved(ds, removed);

  // Remove whole overlay groups with their data (leaving Rows/Columns of a data-less overlay would
  // be invalid) — done above per element. Longitudinal temporal information status:
  setString(ds, TAG.LongitudinalTemporalInformationModified, dates ? "MODIFIED" : fullDates ? "UNMODIFIED" : "REMOVED");
  return { state: st };
};

function pruneRemoved(ds: Dataset, removed: Set<Element>): void {
  ds.elements = ds.elements.filter((e) => !removed.has(e));
  for (const e of ds.elements) if (e.items) for (const it of e.items) pruneRemoved(it, removed);
}

function dummyFor(el: Element): string | null {
  switch (el.vr) {
    case "PN":
      return DUMMY_PN;
    case "DA":
      return DUMMY_DA;
    case "TM":
      return DUMMY_TM;
    case "DT":
      return DUMMY_DT;
    case "AS":
      return "000Y";
    case "IS":
    case "DS":
      return "0";
    case "CS":
      return "ANONYMIZED";
    case "AE":
      return "ANONYMOUS";
    case "UR":
      return "";
    case "LO":
    case "SH":
    case "LT":
    case "ST":
    case "UT":
    case "UC":
      return DUMMY_TEXT;
    default:
      return null;
  }
}

export { textBytes };
