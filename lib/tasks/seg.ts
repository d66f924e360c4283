// A task result's brush labelmaps as a DICOM Segmentation (binary SEG): one segment per template
// label, one frame per (segment, source image) where the label has pixels, each frame derived
// from its source image (Derivation Image, Plane Position, Segment Identification per frame;
// orientation and pixel spacing shared), dimensions by segment then position. Bits are packed
// as PS3.5 8.1.1 says for BitsAllocated 1 (frames contiguous, first pixel in the lowest bit).
// `readSegmentation` gives the labelmaps back (what the viewer restores).
import dcmjs from "dcmjs";
import { decodeRuns, encodeRuns, labelColor, type Labelmap, type SegmentLabel } from "@/lib/viewer/viewer";
import { ReportError, studyAttributes, type ReportStudy } from "./sr";
import type { SourceImageHeader } from "./source-image";

export const SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4";

/** A source image: its header (lib/tasks/source-image.ts) and the UIDs the archive knows it by. */
export interface SegSourceImage extends SourceImageHeader {
  sopInstanceUid: string;
  seriesInstanceUid: string;
}

export interface SegInput {
  study: ReportStudy;
  images: ReadonlyMap<string, SegSourceImage>;
  labelmap: Labelmap;
  labels: readonly SegmentLabel[];
  creator: string;
  seriesDescription: string;
  seriesNumber: number;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  at: Date;
}

const da = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, "");
const tm = (d: Date) => d.toISOString().slice(11, 19).replace(/:/g, "");
const code = (CodeValue: string, CodingSchemeDesignator: string, CodeMeaning: string) => [{ CodeValue, CodingSchemeDesignator, CodeMeaning }];

/** Packs 0/1 values into bits, first value in the lowest bit (PS3.5 8.1.1), padded to an even length. */
export function packBits(values: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(Math.ceil(values.length / 8) / 2) * 2);
  for (let i = 0; i < values.length; i++) if (values[i]) out[i >> 3]! |= 1 << (i & 7);
  return out;
}

/** The labelmap as a DICOM SEG Part 10 file (Explicit VR Little Endian). */
export function segmentation(input: SegInput): Buffer {
  const { labelmap, images } = input;
  const slices = labelmap.slices.filter((s) => s.runs.length > 0);
  if (slices.length === 0) throw new ReportError("The segmentation is empty: nothing was painted.");
  const sources = slices.map((s) => {
    const img = images.get(s.sopInstanceUid);
    if (!img) throw new ReportError(`A painted slice (image ${s.sopInstanceUid}) is not an image of the archive; the segmentation cannot reference it.`);
    if ((img.numberOfFrames ?? 1) > 1) throw new ReportError("Segmentations of multi-frame images are not exported as DICOM SEG yet; the labelmap stays in the task's result (JSON).");
    if (!img.imagePositionPatient || !img.imageOrientationPatient || !img.pixelSpacing || !img.frameOfReferenceUid) throw new ReportError(`The image ${s.sopInstanceUid} has no plane geometry (position, orientation, pixel spacing, frame of reference); a DICOM SEG cannot be placed on it.`);
    if (img.rows !== s.rows || img.columns !== s.columns) throw new ReportError(`A painted slice is ${s.columns}×${s.rows} but its image is ${img.columns}×${img.rows}; the labelmap does not belong to it.`);
    return { slice: s, img };
  });
  const first = sources[0]!.img;
  for (const { img } of sources) {
    if (img.rows !== first.rows || img.columns !== first.columns || img.frameOfReferenceUid !== first.frameOfReferenceUid || img.imageOrientationPatient!.some((v, k) => Math.abs(v - first.imageOrientationPatient![k]!) > 1e-4)) {
      throw new ReportError("The painted images differ in size, orientation or frame of reference; a DICOM SEG of one series needs them alike.");
    }
  }
  // Order the source images along the slice normal (the position dimension).
  const [r0, r1, r2, c0, c1, c2] = first.imageOrientationPatient!;
  const normal = [r1 * c2 - r2 * c1, r2 * c0 - r0 * c2, r0 * c1 - r1 * c0];
  const along = (p: readonly number[]) => p[0]! * normal[0]! + p[1]! * normal[1]! + p[2]! * normal[2]!;
  sources.sort((a, b) => along(a.img.imagePositionPatient!) - along(b.img.imagePositionPatient!));
  const positionIndex = new Map([...new Set(sources.map((s) => s.img.sopInstanceUid))].map((sop, i) => [sop, i + 1]));

  const size = first.rows * first.columns;
  const usedValues = [...new Set(sources.flatMap((s) => s.slice.runs.map((r) => r[2])))].sort((a, b) => a - b);
  const segmentOf = new Map(usedValues.map((v, i) => [v, i + 1]));
  const frames: { segment: number; value: number; img: SegSourceImage; bits: Uint8Array }[] = [];
  for (const value of usedValues) {
    for (const { slice, img } of sources) {
      if (!slice.runs.some((r) => r[2] === value)) continue;
      const mask = new Uint8Array(size);
      for (const [start, length, v] of slice.runs) {
        if (start + length > size) throw new ReportError(`A labelmap run (${start}+${length}) goes beyond the image (${size} pixels); the annotations do not belong to this image.`);
        if (v === value) mask.fill(1, start, start + length);
      }
      frames.push({ segment: segmentOf.get(value)!, value, img, bits: mask });
    }
  }
  const all = new Uint8Array(size * frames.length);
  frames.forEach((f, i) => all.set(f.bits, i * size));
  const pixelData = packBits(all);

  const labelFor = (value: number) => input.labels.find((l) => l.value === value) ?? { value, name: `Label ${value}` };
  const s = input.study;
  const seriesOfImages = new Map<string, SegSourceImage[]>();
  for (const { img } of sources) {
    const list = seriesOfImages.get(img.seriesInstanceUid) ?? [];
    if (!list.includes(img)) list.push(img);
    seriesOfImages.set(img.seriesInstanceUid, list);
  }
  const dimensionOrganizationUid = `${input.sopInstanceUid}.1`.length <= 64 ? `${input.sopInstanceUid}.1` : dcmjs.data.DicomMetaDictionary.uid();
  const ds: Record<string, unknown> = {
    SpecificCharacterSet: "ISO_IR 192",
    SOPClassUID: SEGMENTATION_STORAGE,
    SOPInstanceUID: input.sopInstanceUid,
    ...studyAttributes(s),
    SeriesInstanceUID: input.seriesInstanceUid,
    Modality: "SEG",
    SeriesNumber: String(input.seriesNumber),
    SeriesDescription: input.seriesDescription.slice(0, 64),
    SeriesDate: da(input.at),
    SeriesTime: tm(input.at),
    FrameOfReferenceUID: first.frameOfReferenceUid,
    PositionReferenceIndicator: "",
    Manufacturer: "Atrium",
    ManufacturerModelName: "Atrium",
    DeviceSerialNumber: "1",
    SoftwareVersions: "1",
    InstanceNumber: "1",
    ContentDate: da(input.at),
    ContentTime: tm(input.at),
    ImageType: ["DERIVED", "PRIMARY"],
    ContentLabel: "SEGMENTATION",
    ContentDescription: input.seriesDescription.slice(0, 64),
    ContentCreatorName: input.creator.slice(0, 64),
    SamplesPerPixel: 1,
    PhotometricInterpretation: "MONOCHROME2",
    Rows: first.rows,
    Columns: first.columns,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: "00",
    SegmentationType: "BINARY",
    NumberOfFrames: String(frames.length),
    SegmentSequence: usedValues.map((value) => {
      const l = labelFor(value);
      const [r, g, b] = labelColor(l, value - 1);
      return {
        SegmentNumber: segmentOf.get(value),
        SegmentLabel: l.name.slice(0, 64),
        SegmentAlgorithmType: "MANUAL",
        SegmentedPropertyCategoryCodeSequence: code("85756007", "SCT", "Tissue"),
        SegmentedPropertyTypeCodeSequence: code(`S${value}`, "99ATRIUM", l.name.slice(0, 64)),
        RecommendedDisplayCIELabValue: dcmjs.data.Colors.rgb2DICOMLAB([r / 255, g / 255, b / 255]).map((x: number) => Math.round(x)),
      };
    }),
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUid }],
    DimensionIndexSequence: [
      { DimensionOrganizationUID: dimensionOrganizationUid, DimensionIndexPointer: 0x0062000b, FunctionalGroupPointer: 0x0062000a, DimensionDescriptionLabel: "ReferencedSegmentNumber" },
      { DimensionOrganizationUID: dimensionOrganizationUid, DimensionIndexPointer: 0x00200032, FunctionalGroupPointer: 0x00209113, DimensionDescriptionLabel: "ImagePositionPatient" },
    ],
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: first.imageOrientationPatient }],
        PixelMeasuresSequence: [{ PixelSpacing: first.pixelSpacing, SliceThickness: first.sliceThickness ?? 1 }],
      },
    ],
    PerFrameFunctionalGroupsSequence: frames.map((f) => ({
      DerivationImageSequence: [
        {
          SourceImageSequence: [{ ReferencedSOPClassUID: f.img.sopClassUid, ReferencedSOPInstanceUID: f.img.sopInstanceUid, PurposeOfReferenceCodeSequence: code("121322", "DCM", "Source image for image processing operation") }],
          DerivationCodeSequence: code("113076", "DCM", "Segmentation"),
        },
      ],
      FrameContentSequence: [{ DimensionIndexValues: [f.segment, positionIndex.get(f.img.sopInstanceUid)!] }],
      PlanePositionSequence: [{ ImagePositionPatient: f.img.imagePositionPatient }],
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: f.segment }],
    })),
    ReferencedSeriesSequence: [...seriesOfImages].map(([series, imgs]) => ({
      SeriesInstanceUID: series,
      ReferencedInstanceSequence: imgs.map((i) => ({ ReferencedSOPClassUID: i.sopClassUid, ReferencedSOPInstanceUID: i.sopInstanceUid })),
    })),
    PixelData: [pixelData.buffer],
    _vrMap: { PixelData: "OB" },
    _meta: {
      FileMetaInformationVersion: { Value: [new Uint8Array([0, 1]).buffer], vr: "OB" },
      MediaStorageSOPClassUID: { Value: [SEGMENTATION_STORAGE], vr: "UI" },
      MediaStorageSOPInstanceUID: { Value: [input.sopInstanceUid], vr: "UI" },
      TransferSyntaxUID: { Value: ["1.2.840.10008.1.2.1"], vr: "UI" },
      ImplementationClassUID: { Value: ["2.25.80302813137786398554742050926734630921"], vr: "UI" },
      ImplementationVersionName: { Value: ["ATRIUM"], vr: "SH" },
    },
  };
  return Buffer.from(dcmjs.data.datasetToDict(ds).write());
}

type Item = Record<string, unknown>;
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * A binary SEG's frames back as labelmap slices (runs per source image, the segment number as the
 * label value), with the segments' labels.
 */
export function readSegmentation(bytes: Uint8Array, scan: string): { labelmap: Labelmap; labels: SegmentLabel[] } {
  const dict = dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict) as Item;
  if (ds.SOPClassUID !== SEGMENTATION_STORAGE || ds.SegmentationType !== "BINARY") throw new ReportError("This object is not a binary DICOM Segmentation.");
  const rows = Number(ds.Rows);
  const columns = Number(ds.Columns);
  const size = rows * columns;
  const bits = new Uint8Array(list(ds.PixelData as ArrayBuffer[])[0]!);
  // Atrium writes the template label's value in the segment's type code (S<value>); other SEGs use the segment number.
  const valueOf = new Map<number, number>();
  const labels: SegmentLabel[] = list(ds.SegmentSequence as Item[]).map((s) => {
    const type = list(s.SegmentedPropertyTypeCodeSequence as Item[])[0];
    const own = type?.CodingSchemeDesignator === "99ATRIUM" && /^S\d+$/.test(String(type.CodeValue)) ? Number(String(type.CodeValue).slice(1)) : NaN;
    const value = own >= 1 && own <= 255 ? own : Number(s.SegmentNumber);
    valueOf.set(Number(s.SegmentNumber), value);
    return { value, name: String(s.SegmentLabel ?? `Segment ${s.SegmentNumber}`) };
  });
  const perSop = new Map<string, Uint8Array>();
  list(ds.PerFrameFunctionalGroupsSequence as Item[]).forEach((f, i) => {
    const derivation = list(f.DerivationImageSequence as Item[])[0];
    const source = list(derivation?.SourceImageSequence as Item[])[0];
    const sop = String(source?.ReferencedSOPInstanceUID ?? "");
    const segment = Number(list(f.SegmentIdentificationSequence as Item[])[0]?.ReferencedSegmentNumber);
    if (!sop || !segment) return;
    const values = perSop.get(sop) ?? new Uint8Array(size);
    for (let p = 0; p < size; p++) {
      const bit = i * size + p;
      if (bits[bit >> 3]! & (1 << (bit & 7))) values[p] = valueOf.get(segment) ?? segment;
    }
    perSop.set(sop, values);
  });
  const slices = [...perSop].map(([sopInstanceUid, values]) => ({ sopInstanceUid, frame: 1, rows, columns, runs: encodeRuns(values) }));
  return { labelmap: { scan, slices }, labels };
}

/** The pixels of a labelmap slice as values (for comparisons). */
export function sliceValues(runs: [number, number, number][], size: number): Uint8Array {
  return decodeRuns(runs, size) as Uint8Array;
}
