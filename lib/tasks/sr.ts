// A task result's measurements as a DICOM Structured Report: TID 1500 "Imaging Measurement
// Report" in a Comprehensive 3D SR, built with dcmjs's TID 1500 / TID 1501 / TID 300 classes (the
// ones the cornerstone adapters use), one measurement group per annotation with its world
// coordinates as SCOORD3D in the frame of reference of the image it was drawn on, its values
// (length, angle, area and the ROI statistics) as NUM items, its label as a free-text finding,
// and the Atrium tool in the tracking identifier so that `readMeasurementReport` (and
// cornerstone3D's adapters, which read the same identifiers) can restore it.
// Only pseudonymous values go in: the study's de-identified patient and study attributes.
import { createHash } from "node:crypto";
import dcmjs from "dcmjs";
import type { Measurement } from "@/lib/viewer/viewer";

export const COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34";
/** Prefix of the tracking identifiers (cornerstone3D's adapters recognise it). */
export const TRACKING_PREFIX = "Cornerstone3DTools@^0.1.0";
const TOOL_TRACKING = { length: "Length", angle: "Angle", ellipse: "EllipticalROI", rectangle: "RectangleROI", point: "Probe" } as const;
type ReportTool = keyof typeof TOOL_TRACKING;
/** Labels are findings coded in Atrium's private scheme: a code per label text. */
export const LABEL_SCHEME = "99ATRIUM";
const labelCode = (label: string) => ({ CodingSchemeDesignator: LABEL_SCHEME, CodeValue: `L${createHash("sha256").update(label).digest("hex").slice(0, 15)}`, CodeMeaning: label.slice(0, 64) });

/** The study the report belongs to: its (de-identified) patient and study attributes. */
export interface ReportStudy {
  studyInstanceUid: string;
  patientName?: string | null;
  patientId?: string | null;
  patientBirthDate?: string | null;
  patientSex?: string | null;
  studyDate?: string | null;
  studyTime?: string | null;
  studyId?: string | null;
  accessionNumber?: string | null;
  referringPhysicianName?: string | null;
}

/** An image a measurement was drawn on (from the archive's copy of it). */
export interface ReportImage {
  sopInstanceUid: string;
  sopClassUid: string;
  seriesInstanceUid: string;
  frameOfReferenceUid: string | null;
  numberOfFrames?: number | null;
}

export interface ReportInput {
  study: ReportStudy;
  /** The images the measurements reference, by SOP Instance UID. */
  images: ReadonlyMap<string, ReportImage>;
  measurements: readonly Measurement[];
  /** Who made them (Person Observer Name, as DICOM PN "Family^Given" or a plain name). */
  observer: string;
  seriesDescription: string;
  seriesNumber: number;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  /** When the result was made (ContentDate/Time, SeriesDate/Time). */
  at: Date;
}

/** The Patient and General Study modules of a derived object, from the study's (de-identified) attributes. */
export function studyAttributes(s: ReportStudy) {
  return {
    StudyInstanceUID: s.studyInstanceUid,
    PatientName: s.patientName ?? "",
    PatientID: s.patientId ?? "",
    PatientBirthDate: s.patientBirthDate ?? "",
    PatientSex: s.patientSex ?? "",
    StudyDate: s.studyDate ?? "",
    StudyTime: s.studyTime ?? "",
    StudyID: s.studyId ?? "",
    AccessionNumber: s.accessionNumber ?? "",
    ReferringPhysicianName: s.referringPhysicianName ?? "",
  };
}

export class ReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReportError";
  }
}

const da = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, "");
const tm = (d: Date) => d.toISOString().slice(11, 19).replace(/:/g, "");
const xyz = (p: readonly [number, number, number]) => ({ x: p[0], y: p[1], z: p[2] });
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const dist = (a: readonly number[], b: readonly number[]) => Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);

/** The angle at the middle of three points, in degrees. */
export function angleAt(a: readonly number[], b: readonly number[], c: readonly number[]): number {
  const u = [a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!];
  const v = [c[0]! - b[0]!, c[1]! - b[1]!, c[2]! - b[2]!];
  const cos = (u[0]! * v[0]! + u[1]! * v[1]! + u[2]! * v[2]!) / (Math.hypot(u[0]!, u[1]!, u[2]!) * Math.hypot(v[0]!, v[1]!, v[2]!));
  return (Math.acos(Math.max(-1, Math.min(1, cos))) * 180) / Math.PI;
}

/** The TID 300 measurement of one annotation (dcmjs's classes; SCOORD3D). */
function tid300(m: Measurement, image: ReportImage) {
  const { TID300 } = dcmjs.utilities;
  const tool = m.tool as ReportTool;
  const ReferencedSOPSequence = {
    ReferencedSOPClassUID: image.sopClassUid,
    ReferencedSOPInstanceUID: image.sopInstanceUid,
    ...((image.numberOfFrames ?? 1) > 1 ? { ReferencedFrameNumber: m.ref.frame ?? 1 } : {}),
  };
  const base = {
    use3DSpatialCoordinates: true,
    ReferencedSOPSequence,
    ReferencedFrameOfReferenceUID: image.frameOfReferenceUid,
    trackingIdentifierTextValue: `${TRACKING_PREFIX}:${TOOL_TRACKING[tool]}`,
    ...(m.label ? { finding: labelCode(m.label) } : {}),
  };
  const p = m.points;
  const stats = m.stats ?? {};
  const roiStats = { mean: num(stats.mean), stdDev: num(stats.stdDev), max: num(stats.max), min: num(stats.min), modalityUnit: typeof stats.modalityUnit === "string" ? stats.modalityUnit : undefined };
  switch (tool) {
    case "length":
      if (p.length < 2) throw new ReportError(`The length ${m.uid} has ${p.length} point(s); it needs two.`);
      return new TID300.Length({ ...base, point1: xyz(p[0]!), point2: xyz(p[1]!), distance: num(stats.length) ?? dist(p[0]!, p[1]!), unit: "mm" });
    case "angle": {
      if (p.length < 3) throw new ReportError(`The angle ${m.uid} has ${p.length} point(s); it needs three.`);
      // Two lines meeting at the vertex, as cornerstone3D's adapter writes an angle.
      return new TID300.CobbAngle({ ...base, point1: xyz(p[0]!), point2: xyz(p[1]!), point3: xyz(p[1]!), point4: xyz(p[2]!), rAngle: num(stats.angle) ?? angleAt(p[0]!, p[1]!, p[2]!) });
    }
    case "point":
      return new TID300.Point({ ...base, points: [xyz(p[0]!)] });
    case "ellipse":
      if (p.length < 4) throw new ReportError(`The ellipse ${m.uid} has ${p.length} point(s); it needs its four axis ends.`);
      return new TID300.Ellipse({ ...base, points: p.slice(0, 4).map(xyz), area: num(stats.area), areaUnit: "mm2", ...roiStats });
    case "rectangle": {
      if (p.length < 4) throw new ReportError(`The rectangle ${m.uid} has ${p.length} point(s); it needs its four corners.`);
      // cornerstone3D's handles are top-left, top-right, bottom-left, bottom-right: the outline closes through them in order 0,1,3,2.
      const ring = [p[0]!, p[1]!, p[3]!, p[2]!, p[0]!];
      const perimeter = dist(p[0]!, p[1]!) * 2 + dist(p[0]!, p[2]!) * 2;
      return new TID300.Polygon({ ...base, points: ring.map(xyz), perimeter, area: num(stats.area) ?? dist(p[0]!, p[1]!) * dist(p[0]!, p[2]!), areaUnit: "mm2", unit: "mm", ...roiStats });
    }
  }
}

const SOURCE_OF_MEASUREMENT = { CodeValue: "121112", CodingSchemeDesignator: "DCM", CodeMeaning: "Source of Measurement" };

/**
 * Adds to each NUM of a TID 300 measurement the image it was made on (TID 300 "Source of
 * Measurement", INFERRED FROM IMAGE), which SCOORD3D alone does not name.
 */
function withSourceImage<T extends { contentItem(): unknown[] }>(t: T, image: ReportImage, frame: number | undefined): T {
  const items = t.contentItem.bind(t);
  const ref = { ReferencedSOPClassUID: image.sopClassUid, ReferencedSOPInstanceUID: image.sopInstanceUid, ...((image.numberOfFrames ?? 1) > 1 ? { ReferencedFrameNumber: frame ?? 1 } : {}) };
  t.contentItem = () =>
    items().map((i) => {
      const item = i as { ValueType?: string; ContentSequence?: unknown };
      if (item.ValueType !== "NUM") return i;
      const children = item.ContentSequence === undefined ? [] : Array.isArray(item.ContentSequence) ? item.ContentSequence : [item.ContentSequence];
      return { ...item, ContentSequence: [...children, { RelationshipType: "INFERRED FROM", ValueType: "IMAGE", ConceptNameCodeSequence: SOURCE_OF_MEASUREMENT, ReferencedSOPSequence: ref }] };
    });
  return t;
}

/** The report as a DICOM Part 10 file (Explicit VR Little Endian). */
export function measurementReport(input: ReportInput): Buffer {
  if (input.measurements.length === 0) throw new ReportError("There are no measurements to report.");
  const { TID1500 } = dcmjs.utilities;
  const groups = input.measurements.map((m) => {
    const sop = m.ref.sopInstanceUid;
    const image = sop ? input.images.get(sop) : undefined;
    if (!image) throw new ReportError(`The measurement ${m.uid} is not on an image of the archive (${sop ? "its image is not archived" : "it was drawn on a reformatted view"}); it cannot be referenced in the report.`);
    if (!image.frameOfReferenceUid) throw new ReportError(`The image of measurement ${m.uid} has no Frame of Reference UID; its 3D coordinates cannot be referenced.`);
    return new TID1500.TID1501MeasurementGroup([withSourceImage(tid300(m, image), image, m.ref.frame)]);
  });
  const s = input.study;
  const source = {
    ...studyAttributes(s),
    _meta: {},
    _vrMap: {},
  };
  const options = {
    Manufacturer: "Atrium",
    ManufacturerModelName: "Atrium",
    SoftwareVersions: "1",
    SeriesDescription: input.seriesDescription.slice(0, 64),
    SeriesNumber: String(input.seriesNumber),
    SeriesInstanceUID: input.seriesInstanceUid,
    SOPInstanceUID: input.sopInstanceUid,
    SeriesDate: da(input.at),
    SeriesTime: tm(input.at),
    ContentDate: da(input.at),
    ContentTime: tm(input.at),
  };
  const report = new dcmjs.derivations.StructuredReport([source], options);
  const seriesOfSop: Record<string, string> = {};
  for (const img of input.images.values()) seriesOfSop[img.sopInstanceUid] = img.seriesInstanceUid;
  const content = new TID1500.TID1500MeasurementReport({ TID1501MeasurementGroups: groups }).contentItem([source], { PersonName: input.observer.slice(0, 64), sopInstanceUIDsToSeriesInstanceUIDMap: seriesOfSop });
  const ds = Object.assign(report.dataset, content);
  // A Comprehensive 3D SR (the coordinates are SCOORD3D), not the derivation's Enhanced SR.
  ds.SOPClassUID = COMPREHENSIVE_3D_SR;
  ds.InstanceNumber = "1";
  ds.ContentQualification = undefined;
  ds.ImageComments = undefined;
  ds.SpecificCharacterSet = "ISO_IR 192";
  ds.CodingSchemeIdentificationSequence = [{ CodingSchemeDesignator: LABEL_SCHEME, CodingSchemeName: "Atrium annotation labels", CodingSchemeResponsibleOrganization: "Atrium" }];
  // Evidence: the images the report references, grouped by series (Referenced SOP sequences).
  const bySeries = new Map<string, ReportImage[]>();
  for (const m of input.measurements) {
    const img = input.images.get(m.ref.sopInstanceUid!)!;
    const list = bySeries.get(img.seriesInstanceUid) ?? [];
    if (!list.some((i) => i.sopInstanceUid === img.sopInstanceUid)) list.push(img);
    bySeries.set(img.seriesInstanceUid, list);
  }
  ds.CurrentRequestedProcedureEvidenceSequence = [
    {
      StudyInstanceUID: s.studyInstanceUid,
      ReferencedSeriesSequence: [...bySeries].map(([series, imgs]) => ({
        SeriesInstanceUID: series,
        ReferencedSOPSequence: imgs.map((i) => ({ ReferencedSOPClassUID: i.sopClassUid, ReferencedSOPInstanceUID: i.sopInstanceUid })),
      })),
    },
  ];
  for (const k of Object.keys(ds)) if (ds[k] === undefined) delete ds[k];
  ds._meta = {
    FileMetaInformationVersion: { Value: [new Uint8Array([0, 1]).buffer], vr: "OB" },
    MediaStorageSOPClassUID: { Value: [COMPREHENSIVE_3D_SR], vr: "UI" },
    MediaStorageSOPInstanceUID: { Value: [input.sopInstanceUid], vr: "UI" },
    TransferSyntaxUID: { Value: ["1.2.840.10008.1.2.1"], vr: "UI" },
    ImplementationClassUID: { Value: ["2.25.80302813137786398554742050926734630921"], vr: "UI" },
    ImplementationVersionName: { Value: ["ATRIUM"], vr: "SH" },
  };
  const dict = dcmjs.data.datasetToDict(ds);
  return Buffer.from(dict.write());
}

/** One measurement read back from a report. */
export interface ReportedMeasurement {
  tool: ReportTool;
  label?: string;
  sopInstanceUid?: string;
  frame?: number;
  frameOfReferenceUid?: string;
  points: [number, number, number][];
  /** The report's NUM values by their concept (Length, Area, Mean, …), in their units. */
  values: Record<string, { value: number; unit: string }>;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
type Item = Record<string, unknown> & { ConceptNameCodeSequence?: unknown; ContentSequence?: unknown; ValueType?: string };
const meaning = (i: Item) => (list(i.ConceptNameCodeSequence as Item | Item[])[0] as { CodeMeaning?: string } | undefined)?.CodeMeaning;

/**
 * The measurements of a TID 1500 report (as this module writes it, or cornerstone3D's adapters
 * do): the tool from the tracking identifier, the points from the SCOORD3D (or SCOORD with its
 * image), the label from the finding, the values from the NUM items.
 */
export function readMeasurementReport(bytes: Uint8Array): ReportedMeasurement[] {
  const dict = dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict) as Item & { ContentTemplateSequence?: unknown };
  const template = list(ds.ContentTemplateSequence as Item | Item[])[0] as { TemplateIdentifier?: string } | undefined;
  if (template?.TemplateIdentifier !== "1500") throw new ReportError("This Structured Report is not a TID 1500 measurement report.");
  const imaging = list(ds.ContentSequence as Item[]).find((i) => meaning(i) === "Imaging Measurements");
  const groups = list(imaging?.ContentSequence as Item[]).filter((i) => meaning(i) === "Measurement Group");
  const byTracking = new Map<string, ReportTool>(Object.entries(TOOL_TRACKING).map(([k, v]) => [v, k as ReportTool]));
  const out: ReportedMeasurement[] = [];
  for (const g of groups) {
    const items = list(g.ContentSequence as Item[]);
    const tracking = String(items.find((i) => meaning(i) === "Tracking Identifier")?.TextValue ?? "");
    const tool = byTracking.get(tracking.split(":").pop() ?? "");
    if (!tool) continue;
    const finding = items.find((i) => meaning(i) === "Finding");
    const label = (list(finding?.ConceptCodeSequence as Item | Item[])[0] as { CodeMeaning?: string } | undefined)?.CodeMeaning;
    const values: ReportedMeasurement["values"] = {};
    let coords: Item | undefined;
    let source: Item | undefined;
    for (const n of items.filter((i) => i.ValueType === "NUM")) {
      const mv = list(n.MeasuredValueSequence as Item | Item[])[0] as { NumericValue?: number | string; MeasurementUnitsCodeSequence?: unknown } | undefined;
      const unit = (list(mv?.MeasurementUnitsCodeSequence as Item | Item[])[0] as { CodeValue?: string } | undefined)?.CodeValue ?? "";
      if (mv?.NumericValue !== undefined) values[meaning(n) ?? "?"] = { value: Number(mv.NumericValue), unit };
      coords ??= list(n.ContentSequence as Item[]).find((c) => c.ValueType === "SCOORD3D" || c.ValueType === "SCOORD");
      source ??= list(n.ContentSequence as Item[]).find((c) => c.ValueType === "IMAGE");
    }
    coords ??= items.find((c) => c.ValueType === "SCOORD3D" || c.ValueType === "SCOORD");
    if (!coords || coords.ValueType !== "SCOORD3D") continue;
    const data = list(coords.GraphicData as number[]).map(Number);
    const points: [number, number, number][] = [];
    for (let k = 0; k + 2 < data.length; k += 3) points.push([data[k]!, data[k + 1]!, data[k + 2]!]);
    const m: ReportedMeasurement = { tool, points, values };
    if (label) m.label = label;
    if (typeof coords.ReferencedFrameOfReferenceUID === "string") m.frameOfReferenceUid = coords.ReferencedFrameOfReferenceUID;
    const image = list(source?.ReferencedSOPSequence as Item | Item[])[0] as { ReferencedSOPInstanceUID?: string; ReferencedFrameNumber?: number | string } | undefined;
    if (image?.ReferencedSOPInstanceUID) m.sopInstanceUid = image.ReferencedSOPInstanceUID;
    if (image?.ReferencedFrameNumber !== undefined) m.frame = Number(image.ReferencedFrameNumber);
    if (tool === "angle" && points.length === 4) m.points = [points[0]!, points[1]!, points[3]!];
    if (tool === "rectangle" && points.length >= 4) m.points = [points[0]!, points[1]!, points[3]!, points[2]!];
    out.push(m);
  }
  return out;
}
