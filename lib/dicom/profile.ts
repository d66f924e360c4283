// The PS3.15 Annex E Basic Application Level Confidentiality Profile and its options, generated
// at runtime from Table E.1-1 (lib/dicom/ps315-table-e1-1.json, DICOM 2024b, innolitics extract).
// Imported (not read from disk) so that every bundle carries it: the Next.js server bundle
// rewrites `new URL(…, import.meta.url)` into an asset URL that node:fs refuses.
import TABLE_E1_1 from "./ps315-table-e1-1.json";

export type Action = "X" | "Z" | "D" | "K" | "C" | "U";

export const PROFILE_OPTIONS = [
  "retainSafePrivate",
  "retainUIDs",
  "retainDeviceIdentity",
  "retainInstitutionIdentity",
  "retainPatientCharacteristics",
  "retainLongitudinalFullDates",
  "retainLongitudinalModifiedDates",
  "cleanDescriptors",
  "cleanStructuredContent",
  "cleanGraphics",
  "cleanPixelData",
] as const;
export type ProfileOption = (typeof PROFILE_OPTIONS)[number];

/** Table column per option, and its code in CID 7050 (De-identification Method). */
export const OPTION_INFO: Record<ProfileOption, { column: string; code: string; meaning: string }> = {
  retainSafePrivate: { column: "rtnSafePrivOpt", code: "113111", meaning: "Retain Safe Private Option" },
  retainUIDs: { column: "rtnUIDsOpt", code: "113110", meaning: "Retain UIDs Option" },
  retainDeviceIdentity: { column: "rtnDevIdOpt", code: "113109", meaning: "Retain Device Identity Option" },
  retainInstitutionIdentity: { column: "rtnInstIdOpt", code: "113112", meaning: "Retain Institution Identity Option" },
  retainPatientCharacteristics: { column: "rtnPatCharsOpt", code: "113108", meaning: "Retain Patient Characteristics Option" },
  retainLongitudinalFullDates: { column: "rtnLongFullDatesOpt", code: "113106", meaning: "Retain Longitudinal Temporal Information Full Dates Option" },
  retainLongitudinalModifiedDates: {
    column: "rtnLongModifDatesOpt",
    code: "113107",
    meaning: "Retain Longitudinal Temporal Information Modified Dates Option",
  },
  cleanDescriptors: { column: "cleanDescOpt", code: "113105", meaning: "Clean Descriptors Option" },
  cleanStructuredContent: { column: "cleanStructContOpt", code: "113104", meaning: "Clean Structured Content Option" },
  cleanGraphics: { column: "cleanGraphOpt", code: "113103", meaning: "Clean Graphics Option" },
  // No column in Table E.1-1: it acts on pixels. Atrium holds every image no pixel rule covers
  // for a pixel review (lib/dicom/deid.ts `cleanPixelData`, server/pixels/).
  cleanPixelData: { column: "", code: "113101", meaning: "Clean Pixel Data Option" },
};
export const BASIC_CODE = { code: "113100", meaning: "Basic Application Confidentiality Profile" };
export const CLEAN_PIXEL_CODE = { code: "113101", meaning: "Clean Pixel Data Option" };

/** Short names accepted on the command line (`basic+retainUIDs+cleanDescriptors`, or kebab-case). */
export function parseProfileSpec(spec: string): ProfileOption[] {
  const parts = spec.split("+").map((s) => s.trim()).filter(Boolean);
  if (parts[0]?.toLowerCase() !== "basic") throw new Error(`profile must start with "basic" (got "${parts[0] ?? ""}")`);
  const out: ProfileOption[] = [];
  for (const p of parts.slice(1)) {
    const norm = p.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()).toLowerCase();
    const opt = PROFILE_OPTIONS.find((o) => o.toLowerCase() === norm);
    if (!opt) throw new Error(`unknown profile option "${p}" (known: ${PROFILE_OPTIONS.join(", ")})`);
    out.push(opt);
  }
  return out;
}

interface Row {
  name: string;
  tag: string;
  basicProfile: string;
  [k: string]: string;
}

export interface CompiledProfile {
  options: ProfileOption[];
  /** Action per tag (after options); tags absent here are kept (K). */
  actions: Map<number, Action>;
  /** The compound code the action was resolved from (for the report), per tag. */
  source: Map<number, string>;
  curves: Action;
  overlayData: Action;
  overlayComments: Action;
  privateAction: Action; // "X", or "C" with Retain Safe Private
  edition: string;
}

export function tableRows(): Row[] {
  return TABLE_E1_1 as unknown as Row[];
}

/**
 * Compound codes (Table E.1-1a) pick a later letter when IOD conformance needs it. Without a
 * per-IOD attribute-type table we resolve them to the most conformance-preserving letter (the
 * last one): X/Z→Z, X/D→D, Z/D→D, X/Z/D→D, X/Z/U*→U. Every alternative is equally
 * non-identifying (Z empties, D writes a dummy, U writes a new UID); this only keeps Type 1/2
 * attributes present.
 */
export function resolveCompound(code: string): Action {
  const letters = code.replace(/\*/g, "").split("/").map((s) => s.trim()) as Action[];
  return letters[letters.length - 1];
}

export function compileProfile(options: ProfileOption[] = []): CompiledProfile {
  const opts = [...new Set(options)];
  if (opts.includes("retainLongitudinalFullDates") && opts.includes("retainLongitudinalModifiedDates")) {
    throw new Error("Retain Longitudinal Full Dates and Modified Dates are mutually exclusive");
  }
  const actions = new Map<number, Action>();
  const source = new Map<number, string>();
  let curves: Action = "X";
  let overlayData: Action = "X";
  let overlayComments: Action = "X";
  let privateAction: Action = "X";
  for (const row of tableRows()) {
    let code = row.basicProfile;
    // Options: a retain option's K beats a clean option's C where both apply (they never
    // conflict in the 2024b table: the only overlaps are C+C and K+K).
    let opt: string | undefined;
    for (const o of opts) {
      if (!OPTION_INFO[o].column) continue;
      const v = row[OPTION_INFO[o].column];
      if (!v) continue;
      if (!opt || v === "K") opt = v;
    }
    if (opt) code = opt;
    const action = resolveCompound(code);
    const m = /^\(([0-9A-F]{4}),([0-9A-F]{4})\)$/i.exec(row.tag);
    if (m) {
      const tag = ((parseInt(m[1], 16) << 16) | parseInt(m[2], 16)) >>> 0;
      actions.set(tag, action);
      source.set(tag, code);
    } else if (/^\(50XX,XXXX\)/i.test(row.tag)) curves = action;
    else if (/^\(60XX,3000\)/i.test(row.tag)) overlayData = action;
    else if (/^\(60XX,4000\)/i.test(row.tag)) overlayComments = action;
    else if (/GGGG,EEEE/i.test(row.tag)) privateAction = action;
    else throw new Error(`unrecognised tag pattern in Table E.1-1: ${row.tag}`);
  }
  return { options: opts, actions, source, curves, overlayData, overlayComments, privateAction, edition: "2024b" };
}
