// QIDO-RS (PS3.18 §10.6) over the local archive's index: the query parameters (matching keys by
// keyword or tag, includefield, limit, offset, fuzzymatching), parsed and checked into a Query;
// and the DICOM JSON of each matched study, series or instance. The SQL is in server/dicomweb/qido-db.ts.
import { lookupKeyword } from "@/lib/dicom/dictionary";
import type { DicomJsonDataset } from "./json";

export type Level = "study" | "series" | "instance";

export class QidoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QidoError";
  }
}

/** The attributes Atrium can match and return, per level, with their VR. */
export const ATTRS = {
  // study
  StudyDate: { tag: "00080020", vr: "DA", level: "study" },
  StudyTime: { tag: "00080030", vr: "TM", level: "study" },
  AccessionNumber: { tag: "00080050", vr: "SH", level: "study" },
  ModalitiesInStudy: { tag: "00080061", vr: "CS", level: "study" },
  ReferringPhysicianName: { tag: "00080090", vr: "PN", level: "study" },
  StudyDescription: { tag: "00081030", vr: "LO", level: "study" },
  PatientName: { tag: "00100010", vr: "PN", level: "study" },
  PatientID: { tag: "00100020", vr: "LO", level: "study" },
  PatientBirthDate: { tag: "00100030", vr: "DA", level: "study" },
  PatientSex: { tag: "00100040", vr: "CS", level: "study" },
  StudyInstanceUID: { tag: "0020000D", vr: "UI", level: "study" },
  StudyID: { tag: "00200010", vr: "SH", level: "study" },
  NumberOfStudyRelatedSeries: { tag: "00201206", vr: "IS", level: "study" },
  NumberOfStudyRelatedInstances: { tag: "00201208", vr: "IS", level: "study" },
  // series
  SeriesDate: { tag: "00080021", vr: "DA", level: "series" },
  SeriesTime: { tag: "00080031", vr: "TM", level: "series" },
  Modality: { tag: "00080060", vr: "CS", level: "series" },
  SeriesDescription: { tag: "0008103E", vr: "LO", level: "series" },
  SeriesInstanceUID: { tag: "0020000E", vr: "UI", level: "series" },
  SeriesNumber: { tag: "00200011", vr: "IS", level: "series" },
  NumberOfSeriesRelatedInstances: { tag: "00201209", vr: "IS", level: "series" },
  // instance
  SOPClassUID: { tag: "00080016", vr: "UI", level: "instance" },
  SOPInstanceUID: { tag: "00080018", vr: "UI", level: "instance" },
  InstanceNumber: { tag: "00200013", vr: "IS", level: "instance" },
  NumberOfFrames: { tag: "00280008", vr: "IS", level: "instance" },
  Rows: { tag: "00280010", vr: "US", level: "instance" },
  Columns: { tag: "00280011", vr: "US", level: "instance" },
  BitsAllocated: { tag: "00280100", vr: "US", level: "instance" },
  AvailableTransferSyntaxUID: { tag: "00083002", vr: "UI", level: "instance" },
} as const;
export type AttrName = keyof typeof ATTRS;

const BY_TAG = new Map<string, AttrName>(Object.entries(ATTRS).map(([k, v]) => [v.tag as string, k as AttrName]));

/** Keys that can be matched (the others are return-only). */
export const MATCH_KEYS = [
  "StudyInstanceUID",
  "PatientID",
  "PatientName",
  "StudyDate",
  "StudyTime",
  "AccessionNumber",
  "ModalitiesInStudy",
  "StudyDescription",
  "ReferringPhysicianName",
  "StudyID",
  "SeriesInstanceUID",
  "Modality",
  "SeriesNumber",
  "SeriesDescription",
  "SOPInstanceUID",
  "SOPClassUID",
  "InstanceNumber",
] as const satisfies readonly AttrName[];
export type MatchKey = (typeof MATCH_KEYS)[number];

/** Returned by default at each level (PS3.18 Tables 10.6.3-3 to -5, as far as the index holds them). */
const DEFAULTS: Record<Level, AttrName[]> = {
  study: [
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "StudyDescription",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
  ],
  series: ["Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber", "NumberOfSeriesRelatedInstances", "SeriesDate", "SeriesTime", "StudyInstanceUID"],
  instance: ["SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns", "BitsAllocated", "NumberOfFrames", "AvailableTransferSyntaxUID", "StudyInstanceUID", "SeriesInstanceUID"],
};

export type Matcher =
  | { kind: "uids"; values: string[] }
  | { kind: "text"; pattern: string; wildcard: boolean; caseInsensitive: boolean }
  | { kind: "range"; from: string | null; to: string | null }
  | { kind: "number"; value: number }
  | { kind: "list"; values: string[] };

export interface Query {
  level: Level;
  match: Partial<Record<MatchKey, Matcher>>;
  include: Set<AttrName>;
  limit: number;
  offset: number;
  /** Query keys that Atrium does not support (ignored, named in a Warning header). */
  ignored: string[];
}

/** The largest page Atrium returns; a larger or absent limit is capped (with a Warning when truncated). */
export const MAX_LIMIT = 1000;

const UID = /^[0-9]+(\.[0-9]+)*$/;
const DATE = /^\d{8}$/;
const TIME = /^([01]\d|2[0-3])([0-5]\d([0-5]\d|60)?(\.\d{1,6})?)?$/;

function keyName(raw: string): string | null {
  if (/^[0-9A-Fa-f]{8}$/.test(raw)) return BY_TAG.get(raw.toUpperCase()) ?? `(${raw.slice(0, 4)},${raw.slice(4)})`.toUpperCase();
  return raw;
}

function dateRange(value: string, key: string, fmt: RegExp): Matcher {
  const norm = (s: string) => s.replace(/[-:.]/g, "");
  const bad = () => new QidoError(`${key} is a value or a range (from-to, from-, -to) of ${fmt === DATE ? "YYYYMMDD dates" : "HHMMSS times"}.`);
  const v = fmt === DATE ? value.replace(/(\d{4})-(\d{2})-(\d{2})/g, "$1$2$3") : value;
  if (!v.includes("-")) {
    const s = fmt === DATE ? v : v.replace(/:/g, "");
    if (!fmt.test(s)) throw bad();
    return { kind: "range", from: norm(s), to: norm(s) };
  }
  const [a, b, ...more] = v.split("-");
  if (more.length) throw bad();
  const from = a ? a.replace(/:/g, "") : null;
  const to = b ? b.replace(/:/g, "") : null;
  if ((from && !fmt.test(from)) || (to && !fmt.test(to)) || (!from && !to)) throw bad();
  return { kind: "range", from: from && norm(from), to: to && norm(to) };
}

function textMatcher(value: string, caseInsensitive: boolean): Matcher {
  return { kind: "text", pattern: value, wildcard: /[*?]/.test(value), caseInsensitive };
}

/**
 * Parses a QIDO-RS query string for `level`. Study UID / series UID from the path are passed in
 * `fixed` and always match. Unknown or unsupported keys are ignored (and reported), malformed
 * values are a QidoError (400).
 */
export function parseQuery(params: URLSearchParams, level: Level): Query {
  const match: Query["match"] = {};
  const include = new Set<AttrName>(DEFAULTS[level]);
  const ignored: string[] = [];
  let limit = MAX_LIMIT;
  let offset = 0;
  const fuzzy = params.get("fuzzymatching") === "true";
  for (const [rawKey, rawValue] of params) {
    const k = rawKey.trim();
    if (k === "fuzzymatching") continue;
    if (k === "limit") {
      if (!/^\d{1,9}$/.test(rawValue)) throw new QidoError("limit is a non-negative whole number.");
      limit = Math.min(MAX_LIMIT, Number(rawValue));
      continue;
    }
    if (k === "offset") {
      if (!/^\d{1,9}$/.test(rawValue)) throw new QidoError("offset is a non-negative whole number.");
      offset = Number(rawValue);
      continue;
    }
    if (k === "includefield") {
      for (const f of rawValue.split(",").map((s) => s.trim()).filter(Boolean)) {
        if (f === "all") {
          for (const [name, a] of Object.entries(ATTRS)) if (levelIncludes(level, a.level)) include.add(name as AttrName);
          continue;
        }
        const name = keyName(f);
        if (name && name in ATTRS) include.add(name as AttrName);
        else if (!/^[0-9A-Fa-f]{8}$/.test(f) && !lookupKeyword(f)) throw new QidoError(`includefield "${f.slice(0, 64)}" is neither a DICOM keyword nor a tag (8 hex digits).`);
        // a valid attribute the index does not hold: nothing to include
      }
      continue;
    }
    if (["emptyvaluematching", "multiplevaluematching"].includes(k)) {
      ignored.push(k);
      continue;
    }
    const name = keyName(k);
    if (!name || !(MATCH_KEYS as readonly string[]).includes(name)) {
      ignored.push(name && name.length <= 64 ? name : "(unknown key)");
      continue;
    }
    const key = name as MatchKey;
    const value = rawValue.trim();
    if (value === "" || value === "*") continue; // universal matching
    include.add(key);
    const vr = ATTRS[key].vr;
    if (vr === "UI") {
      const values = value.split(/[,\\]/).map((s) => s.trim()).filter(Boolean);
      if (!values.every((u) => u.length <= 64 && UID.test(u))) throw new QidoError(`${key} is a UID or a list of UIDs separated by commas (digits and dots).`);
      match[key] = { kind: "uids", values };
    } else if (vr === "DA") {
      match[key] = dateRange(value, key, DATE);
    } else if (vr === "TM") {
      match[key] = dateRange(value, key, TIME);
    } else if (vr === "IS") {
      if (!/^[+-]?\d{1,10}$/.test(value)) throw new QidoError(`${key} is a whole number.`);
      match[key] = { kind: "number", value: Number(value) };
    } else if (key === "ModalitiesInStudy" || (key === "Modality" && /[,\\]/.test(value))) {
      match[key] = { kind: "list", values: value.split(/[,\\]/).map((s) => s.trim()).filter(Boolean) };
    } else {
      if (value.length > 256) throw new QidoError(`${key} is at most 256 characters.`);
      // Person names and descriptions match case-insensitively (and, with fuzzymatching, anywhere in the value).
      const ci = vr === "PN" || key === "StudyDescription" || key === "SeriesDescription";
      const pattern = fuzzy && ci && !/[*?]/.test(value) ? `*${value}*` : value;
      match[key] = textMatcher(pattern, ci);
    }
  }
  return { level, match, include, limit, offset, ignored };
}

function levelIncludes(query: Level, attr: Level): boolean {
  const order: Level[] = ["study", "series", "instance"];
  return order.indexOf(attr) <= order.indexOf(query);
}

/** A LIKE pattern for a DICOM wildcard value (* any run, ? one character); LIKE's own characters escaped. */
export function likePattern(dicom: string): string {
  return dicom.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, "%").replace(/\?/g, "_");
}

// ---- results ---------------------------------------------------------------------------------

export interface StudyRow {
  studyInstanceUid: string;
  studyDate: string | null;
  studyTime: string | null;
  accessionNumber: string | null;
  modalities: string[];
  referringPhysicianName: string | null;
  studyDescription: string | null;
  patientName: string | null;
  patientId: string | null;
  patientBirthDate: string | null;
  patientSex: string | null;
  dicomStudyId: string | null;
  numberOfSeries: number;
  numberOfInstances: number;
}
export interface SeriesRow extends StudyRow {
  seriesInstanceUid: string;
  modality: string | null;
  seriesDescription: string | null;
  seriesNumber: number | null;
  seriesDate: string | null;
  seriesTime: string | null;
  seriesInstances: number;
}
export interface InstanceRow extends SeriesRow {
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  rows: number | null;
  columns: number | null;
  bitsAllocated: number | null;
  numberOfFrames: number | null;
  transferSyntaxUid: string;
}

type AnyRow = Partial<InstanceRow> & StudyRow;

function valueOf(name: AttrName, r: AnyRow): Array<string | number> | string | number | null {
  switch (name) {
    case "StudyDate":
      return r.studyDate;
    case "StudyTime":
      return r.studyTime;
    case "AccessionNumber":
      return r.accessionNumber;
    case "ModalitiesInStudy":
      return r.modalities.length ? r.modalities : null;
    case "ReferringPhysicianName":
      return r.referringPhysicianName;
    case "StudyDescription":
      return r.studyDescription;
    case "PatientName":
      return r.patientName;
    case "PatientID":
      return r.patientId;
    case "PatientBirthDate":
      return r.patientBirthDate;
    case "PatientSex":
      return r.patientSex;
    case "StudyInstanceUID":
      return r.studyInstanceUid;
    case "StudyID":
      return r.dicomStudyId;
    case "NumberOfStudyRelatedSeries":
      return r.numberOfSeries;
    case "NumberOfStudyRelatedInstances":
      return r.numberOfInstances;
    case "SeriesDate":
      return r.seriesDate ?? null;
    case "SeriesTime":
      return r.seriesTime ?? null;
    case "Modality":
      return r.modality ?? null;
    case "SeriesDescription":
      return r.seriesDescription ?? null;
    case "SeriesInstanceUID":
      return r.seriesInstanceUid ?? null;
    case "SeriesNumber":
      return r.seriesNumber ?? null;
    case "NumberOfSeriesRelatedInstances":
      return r.seriesInstances ?? null;
    case "SOPClassUID":
      return r.sopClassUid ?? null;
    case "SOPInstanceUID":
      return r.sopInstanceUid ?? null;
    case "InstanceNumber":
      return r.instanceNumber ?? null;
    case "NumberOfFrames":
      return r.numberOfFrames ?? null;
    case "Rows":
      return r.rows ?? null;
    case "Columns":
      return r.columns ?? null;
    case "BitsAllocated":
      return r.bitsAllocated ?? null;
    case "AvailableTransferSyntaxUID":
      return r.transferSyntaxUid ?? null;
  }
}

function personName(v: string): Record<string, string> {
  const [a, i, p] = v.split("=");
  const pn: Record<string, string> = {};
  if (a) pn.Alphabetic = a;
  if (i) pn.Ideographic = i;
  if (p) pn.Phonetic = p;
  return pn;
}

/** The DICOM JSON of one result; `retrieveUrl` is the resource's WADO-RS URL. */
export function resultJson(level: Level, include: Set<AttrName>, row: AnyRow, retrieveUrl: string): DicomJsonDataset {
  const out: DicomJsonDataset = {};
  const entries: Array<[string, { vr: string; Value?: unknown[] }]> = [];
  for (const name of include) {
    const a = ATTRS[name];
    if (!levelIncludes(level, a.level)) continue;
    const v = valueOf(name, row);
    const values = v === null || v === undefined ? [] : Array.isArray(v) ? v : [v];
    entries.push([a.tag, values.length ? { vr: a.vr, Value: a.vr === "PN" ? values.map((x) => personName(String(x))) : values } : { vr: a.vr }]);
  }
  entries.push(["00080056", { vr: "CS", Value: ["ONLINE"] }]);
  entries.push(["00081190", { vr: "UR", Value: [retrieveUrl] }]);
  entries.sort((x, y) => (x[0] < y[0] ? -1 : 1));
  for (const [tag, attr] of entries) out[tag] = attr as DicomJsonDataset[string];
  return out;
}
