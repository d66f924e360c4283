// What a DICOM SR or SEG needs of an image a reader annotated: its SOP class, frame of reference
// and plane geometry, read from the archived file's header with Atrium's parser (pixel data is
// located, never decoded). The UIDs that identify it come from the archive's index.
import { parseDicom, numberValue, stringValue } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";

export interface SourceImageHeader {
  sopClassUid: string;
  frameOfReferenceUid: string | null;
  rows: number;
  columns: number;
  imagePositionPatient: [number, number, number] | null;
  imageOrientationPatient: [number, number, number, number, number, number] | null;
  pixelSpacing: [number, number] | null;
  sliceThickness: number | null;
  numberOfFrames: number | null;
}

const TAG = {
  SOPClassUID: 0x00080016,
  SliceThickness: 0x00180050,
  ImagePositionPatient: 0x00200032,
  ImageOrientationPatient: 0x00200037,
  FrameOfReferenceUID: 0x00200052,
  NumberOfFrames: 0x00280008,
  Rows: 0x00280010,
  Columns: 0x00280011,
  PixelSpacing: 0x00280030,
} as const;

function numbers<N extends number>(text: string | undefined, n: N): number[] | null {
  if (!text) return null;
  const v = text.split("\\").map((s) => Number(s.trim()));
  return v.length === n && v.every(Number.isFinite) ? v : null;
}

/** The header of an archived image (a Part 10 file); throws DicomParseError when it is not DICOM. */
export function sourceImageOf(bytes: Uint8Array): SourceImageHeader {
  const file = parseDicom(new BufferSource(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
  const ds = file.dataset;
  const le = file.syntax.littleEndian;
  const frames = Number(stringValue(ds, TAG.NumberOfFrames) ?? "");
  const thickness = Number(stringValue(ds, TAG.SliceThickness) ?? "");
  return {
    sopClassUid: stringValue(ds, TAG.SOPClassUID) ?? "",
    frameOfReferenceUid: stringValue(ds, TAG.FrameOfReferenceUID) || null,
    rows: numberValue(ds, TAG.Rows, le) ?? 0,
    columns: numberValue(ds, TAG.Columns, le) ?? 0,
    imagePositionPatient: numbers(stringValue(ds, TAG.ImagePositionPatient), 3) as [number, number, number] | null,
    imageOrientationPatient: numbers(stringValue(ds, TAG.ImageOrientationPatient), 6) as SourceImageHeader["imageOrientationPatient"],
    pixelSpacing: numbers(stringValue(ds, TAG.PixelSpacing), 2) as [number, number] | null,
    sliceThickness: Number.isFinite(thickness) && thickness > 0 ? thickness : null,
    numberOfFrames: Number.isInteger(frames) && frames > 0 ? frames : null,
  };
}
