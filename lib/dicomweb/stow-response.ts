// The STOW-RS Store Instances Response (PS3.18 §10.5.3 and Annex I): which instances were stored
// (Referenced SOP Sequence), which failed and why (Failed SOP Sequence with Failure Reason), the
// HTTP status that goes with that mix, and the body as DICOM JSON (PS3.18 Annex F) or the Native
// DICOM Model XML (PS3.19). Retrieve URLs are present (Type 2) but empty: an Atrium URL never
// carries an original UID.

/** Failure Reason (0008,1197) values, PS3.18 Table I.2-2 (and the Cxxx "cannot understand" range). */
export const FAILURE = {
  /** A7xx Refused: out of resources (here: the instance is larger than the configured limit). */
  outOfResources: 0xa700,
  /** A9xx Error: Data Set does not match SOP Class. */
  datasetDoesNotMatchSopClass: 0xa900,
  /** Cxxx Error: cannot understand (not DICOM, truncated, unreadable, or not application/dicom). */
  cannotUnderstand: 0xc000,
  /** C409: the instance's Study Instance UID differs from the study in the request URL (Cxxx range; as dcm4chee uses it). */
  studyInstanceUidMismatch: 0xc409,
  /** 0110 Processing failure: stored nothing because of a server-side error. */
  processingFailure: 0x0110,
} as const;

export interface StoredInstance {
  sopClassUid: string | null;
  sopInstanceUid: string | null;
}

export interface FailedInstance {
  sopClassUid: string | null;
  sopInstanceUid: string | null;
  failureReason: number;
  /** What went wrong, in words (sent in a Warning header, never logged with UIDs). 0-based part index included. */
  explanation: string;
}

export interface StowOutcome {
  stored: StoredInstance[];
  failed: FailedInstance[];
  /** Set when the request itself was malformed (bad multipart framing, truncated body). */
  malformed?: string;
}

/**
 * PS3.18 Table 10.5.3-1: 200 all stored; 202 some stored, some failed; 409 none stored though the
 * request was well formed; 400 none stored because of bad syntax. 413 when nothing was stored and
 * every failure was an instance over the size limit.
 */
export function stowStatus(o: StowOutcome): number {
  if (o.stored.length > 0) return o.failed.length > 0 || o.malformed ? 202 : 200;
  if (o.malformed) return 400;
  if (o.failed.length > 0 && o.failed.every((f) => f.failureReason === FAILURE.outOfResources)) return 413;
  if (o.failed.length === 0) return 400; // a well-framed body with no part at all
  return 409;
}

type JsonAttr = { vr: string; Value?: unknown[] };
type JsonDataset = Record<string, JsonAttr>;

function refItem(i: { sopClassUid: string | null; sopInstanceUid: string | null }): JsonDataset {
  const item: JsonDataset = {};
  if (i.sopClassUid) item["00081150"] = { vr: "UI", Value: [i.sopClassUid] };
  if (i.sopInstanceUid) item["00081155"] = { vr: "UI", Value: [i.sopInstanceUid] };
  return item;
}

/**
 * The response module as a DICOM JSON dataset (keys in tag order, as PS3.18 F.2 asks). When
 * something failed, a private element (0009,1001) LT (creator "ATRIUM") says what and what to do.
 */
export function stowResponseJson(o: StowOutcome): JsonDataset {
  const ds: JsonDataset = { "00081190": { vr: "UR" } };
  if (o.failed.length) {
    ds["00081198"] = {
      vr: "SQ",
      Value: o.failed.map((f) => ({ ...refItem(f), "00081197": { vr: "US", Value: [f.failureReason] } })),
    };
  }
  if (o.stored.length) {
    ds["00081199"] = { vr: "SQ", Value: o.stored.map((s) => ({ ...refItem(s), "00081190": { vr: "UR" } })) };
  }
  const why = failureSummary(o);
  if (why) {
    ds["00090010"] = { vr: "LO", Value: [PRIVATE_CREATOR] };
    ds["00091001"] = { vr: "LT", Value: [why] };
  }
  // JSON keys in ascending tag order.
  return Object.fromEntries(Object.entries(ds).sort(([a], [b]) => a.localeCompare(b))) as JsonDataset;
}

const KEYWORDS: Record<string, string> = {
  "00081150": "ReferencedSOPClassUID",
  "00081155": "ReferencedSOPInstanceUID",
  "00081190": "RetrieveURL",
  "00081197": "FailureReason",
  "00081198": "FailedSOPSequence",
  "00081199": "ReferencedSOPSequence",
};

/** Private creator of the explanation element (0009,1001) LT, added when something failed. */
export const PRIVATE_CREATOR = "ATRIUM";

function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

function xmlDataset(ds: JsonDataset, indent: string): string {
  return Object.entries(ds)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([tag, attr]) => {
      const keyword = KEYWORDS[tag] ? ` keyword="${KEYWORDS[tag]}"` : tag === "00091001" ? ` privateCreator="${PRIVATE_CREATOR}"` : "";
      const open = `${indent}<DicomAttribute tag="${tag}" vr="${attr.vr}"${keyword}`;
      if (!attr.Value || attr.Value.length === 0) return `${open}/>`;
      const values = attr.Value.map((v, i) =>
        attr.vr === "SQ"
          ? `${indent}  <Item number="${i + 1}">\n${xmlDataset(v as JsonDataset, `${indent}    `)}\n${indent}  </Item>`
          : `${indent}  <Value number="${i + 1}">${xmlEscape(String(v))}</Value>`,
      );
      return `${open}>\n${values.join("\n")}\n${indent}</DicomAttribute>`;
    })
    .join("\n");
}

/** The response module in the Native DICOM Model (PS3.19 §A.1). */
export function stowResponseXml(o: StowOutcome): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">\n${xmlDataset(stowResponseJson(o), "  ")}\n</NativeDicomModel>\n`;
}

/** Which representation the client asked for: XML only when Accept names application/dicom+xml before any JSON type. */
export function wantsXml(accept: string | null | undefined): boolean {
  if (!accept) return false;
  const types = accept
    .split(",")
    .map((t) => {
      const [type, ...params] = t.split(";").map((x) => x.trim().toLowerCase());
      const q = params.find((p) => p.startsWith("q="));
      return { type: type ?? "", q: q ? Number(q.slice(2)) : 1 };
    })
    .filter((t) => t.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const t of types) {
    if (t.type === "application/dicom+xml") return true;
    if (t.type === "application/dicom+json" || t.type === "application/json" || t.type === "*/*" || t.type === "application/*") return false;
  }
  return false;
}

/** A one-line summary of the failures for a `Warning: 299` header (ASCII, no UIDs). */
export function failureSummary(o: StowOutcome): string | null {
  const parts = o.failed.map((f) => f.explanation);
  if (o.malformed) parts.push(o.malformed);
  if (!parts.length) return null;
  const text = `${o.failed.length} instance(s) not stored: ${parts.join(" | ")}`;
  return text.replace(/[^\x20-\x7e]/g, "?").replace(/"/g, "'").slice(0, 2000);
}
