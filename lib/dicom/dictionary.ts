// DICOM data dictionary (tag ↔ keyword ↔ VR), derived once from dcmjs's dictionary.
// Repeating groups (50xx curves, 60xx overlays) are folded onto their 5000/6000 entries.
import dcmjs from "dcmjs";

export interface DictEntry {
  tag: number;
  vr: string; // resolved VR ("OW" for ox/lt, "US" for xs, "UL" for up)
  keyword: string;
}

const byTag = new Map<number, DictEntry>();
const byKeyword = new Map<string, DictEntry>();

function resolveVr(vr: string): string {
  switch (vr) {
    case "ox":
    case "lt":
      return "OW";
    case "xs":
      return "US";
    case "up":
      return "UL";
    case "na":
      return "NA";
    default:
      return vr;
  }
}

(function build() {
  const nameMap = (dcmjs as unknown as { data: { DicomMetaDictionary: { nameMap: Record<string, { tag: string; vr: string; name: string }> } } })
    .data.DicomMetaDictionary.nameMap;
  for (const e of Object.values(nameMap)) {
    const m = /^\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$/.exec(e.tag);
    if (!m) continue;
    const tag = ((parseInt(m[1], 16) << 16) | parseInt(m[2], 16)) >>> 0;
    const entry: DictEntry = { tag, vr: resolveVr(e.vr), keyword: e.name };
    byTag.set(tag, entry);
    byKeyword.set(e.name.toLowerCase(), entry);
  }
})();

export const TAG = {
  SpecificCharacterSet: 0x00080005,
  ImageType: 0x00080008,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  StudyDate: 0x00080020,
  Modality: 0x00080060,
  Manufacturer: 0x00080070,
  ManufacturerModelName: 0x00081090,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  PatientBirthDate: 0x00100030,
  PatientIdentityRemoved: 0x00120062,
  DeidentificationMethod: 0x00120063,
  DeidentificationMethodCodeSequence: 0x00120064,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  SamplesPerPixel: 0x00280002,
  PhotometricInterpretation: 0x00280004,
  PlanarConfiguration: 0x00280006,
  NumberOfFrames: 0x00280008,
  Rows: 0x00280010,
  Columns: 0x00280011,
  BitsAllocated: 0x00280100,
  BurnedInAnnotation: 0x00280301,
  LongitudinalTemporalInformationModified: 0x00280303,
  PixelData: 0x7fe00010,
  FloatPixelData: 0x7fe00008,
  DoubleFloatPixelData: 0x7fe00009,
  Item: 0xfffee000,
  ItemDelimitation: 0xfffee00d,
  SequenceDelimitation: 0xfffee0dd,
  CodeValue: 0x00080100,
  CodingSchemeDesignator: 0x00080102,
  CodeMeaning: 0x00080104,
  TransferSyntaxUID: 0x00020010,
} as const;

export function groupOf(tag: number): number {
  return tag >>> 16;
}
export function elementOf(tag: number): number {
  return tag & 0xffff;
}
export function isPrivate(tag: number): boolean {
  return (groupOf(tag) & 1) === 1;
}
/** (gggg,0010-00FF) in an odd group. */
export function isPrivateCreator(tag: number): boolean {
  const e = elementOf(tag);
  return isPrivate(tag) && e >= 0x10 && e <= 0xff;
}
export function isOverlayGroup(tag: number): boolean {
  const g = groupOf(tag);
  return g >= 0x6000 && g <= 0x601e && (g & 1) === 0;
}
export function isCurveGroup(tag: number): boolean {
  const g = groupOf(tag);
  return g >= 0x5000 && g <= 0x501e && (g & 1) === 0;
}

function foldRepeating(tag: number): number {
  if (isOverlayGroup(tag)) return ((0x6000 << 16) | elementOf(tag)) >>> 0;
  if (isCurveGroup(tag)) return ((0x5000 << 16) | elementOf(tag)) >>> 0;
  return tag;
}

export function lookupTag(tag: number): DictEntry | undefined {
  if (elementOf(tag) === 0 && !isPrivate(tag)) return { tag, vr: "UL", keyword: "GroupLength" };
  return byTag.get(tag) ?? byTag.get(foldRepeating(tag));
}

export function lookupKeyword(keyword: string): DictEntry | undefined {
  return byKeyword.get(keyword.toLowerCase());
}

/** VR from the dictionary, "UN" when unknown (private data, unknown public tags). */
export function dictVr(tag: number): string {
  if (isPrivateCreator(tag)) return "LO";
  return lookupTag(tag)?.vr ?? "UN";
}

export function formatTag(tag: number): string {
  const h = (tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
  return `(${h.slice(0, 4)},${h.slice(4)})`;
}

export function parseTagString(s: string): number | undefined {
  const m = /^[([]?\s*([0-9a-fA-F]{4})\s*,?\s*([0-9a-fA-F]{4})\s*[)\]]?$/.exec(s.trim());
  if (!m) return undefined;
  return ((parseInt(m[1], 16) << 16) | parseInt(m[2], 16)) >>> 0;
}

export const STRING_VRS = new Set(["AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"]);
export const TEXT_VRS = new Set(["LO", "LT", "PN", "SH", "ST", "UC", "UT"]);
/** Explicit VRs whose header uses a 2-byte reserved field and a 4-byte length. */
export const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"]);
export const KNOWN_VRS = new Set([
  "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN",
  "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV",
]);
