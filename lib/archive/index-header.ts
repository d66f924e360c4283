// The header fields the local archive's index keeps for one (de-identified) instance: study,
// series and instance attributes for QIDO-RS and the portal's browse pages. Read with the Atrium
// parser (pixel data is located, never read), so a large file costs a header read.
import { parseDicom, findElement, numberValue, stringValue, valueBytes, type Dataset } from "@/lib/dicom/parse";
import { openSource, type ByteSource } from "@/lib/dicom/source";
import { TAG } from "@/lib/dicom/dictionary";
import { decodeText } from "@/lib/dicomweb/charset";

export interface IndexHeader {
  studyInstanceUid: string | null;
  seriesInstanceUid: string | null;
  sopInstanceUid: string | null;
  sopClassUid: string | null;
  transferSyntaxUid: string;
  study: {
    studyDate: string | null;
    studyTime: string | null;
    studyDescription: string | null;
    accessionNumber: string | null;
    patientName: string | null;
    patientId: string | null;
    patientBirthDate: string | null;
    patientSex: string | null;
    dicomStudyId: string | null;
    referringPhysicianName: string | null;
  };
  series: {
    modality: string | null;
    seriesNumber: number | null;
    seriesDescription: string | null;
    seriesDate: string | null;
    seriesTime: string | null;
  };
  instance: {
    instanceNumber: number | null;
    rows: number | null;
    columns: number | null;
    numberOfFrames: number | null;
    bitsAllocated: number | null;
    /** Image Position / Orientation (Patient), when the file has them (and they are numbers). */
    imagePosition: number[] | null;
    imageOrientation: number[] | null;
  };
}

const T = {
  StudyDate: 0x00080020,
  SeriesDate: 0x00080021,
  StudyTime: 0x00080030,
  SeriesTime: 0x00080031,
  AccessionNumber: 0x00080050,
  ReferringPhysicianName: 0x00080090,
  StudyDescription: 0x00081030,
  SeriesDescription: 0x0008103e,
  PatientSex: 0x00100040,
  StudyID: 0x00200010,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
  MediaStorageSOPClassUID: 0x00020002,
  MediaStorageSOPInstanceUID: 0x00020003,
  ImagePositionPatient: 0x00200032,
  ImageOrientationPatient: 0x00200037,
} as const;

function clean(s: string | undefined): string | null {
  if (s === undefined) return null;
  const t = s.replace(/[\0 ]+$/, "").trim();
  return t === "" ? null : t;
}

function intOf(ds: Dataset, tag: number, le: boolean): number | null {
  const n = numberValue(ds, tag, le);
  return n === undefined || !Number.isFinite(n) ? null : Math.trunc(n);
}

/** A DS value of exactly `n` finite numbers, else null. */
function decimals(ds: Dataset, tag: number, n: number): number[] | null {
  const raw = stringValue(ds, tag);
  if (raw === undefined) return null;
  const v = raw.replace(/[\0 ]+$/, "").split("\\").map((x) => Number(x.trim()));
  return v.length === n && v.every((x) => Number.isFinite(x)) ? v : null;
}

/** Reads the index fields of a parsed dataset. */
export function indexHeaderOf(ds: Dataset, meta: Dataset, transferSyntaxUid: string, littleEndian: boolean): IndexHeader {
  const charset = stringValue(ds, TAG.SpecificCharacterSet);
  const text = (tag: number) => {
    const el = findElement(ds, tag);
    if (!el || el.items || el.inSource) return null;
    return clean(decodeText(valueBytes(el), charset));
  };
  const ascii = (tag: number) => clean(stringValue(ds, tag));
  return {
    studyInstanceUid: ascii(TAG.StudyInstanceUID),
    seriesInstanceUid: ascii(TAG.SeriesInstanceUID),
    sopInstanceUid: ascii(TAG.SOPInstanceUID) ?? clean(stringValue(meta, T.MediaStorageSOPInstanceUID)),
    sopClassUid: ascii(TAG.SOPClassUID) ?? clean(stringValue(meta, T.MediaStorageSOPClassUID)),
    transferSyntaxUid,
    study: {
      studyDate: ascii(T.StudyDate),
      studyTime: ascii(T.StudyTime),
      studyDescription: text(T.StudyDescription),
      accessionNumber: text(T.AccessionNumber),
      patientName: text(TAG.PatientName),
      patientId: text(TAG.PatientID),
      patientBirthDate: ascii(TAG.PatientBirthDate),
      patientSex: ascii(T.PatientSex),
      dicomStudyId: text(T.StudyID),
      referringPhysicianName: text(T.ReferringPhysicianName),
    },
    series: {
      modality: ascii(TAG.Modality),
      seriesNumber: intOf(ds, T.SeriesNumber, littleEndian),
      seriesDescription: text(T.SeriesDescription),
      seriesDate: ascii(T.SeriesDate),
      seriesTime: ascii(T.SeriesTime),
    },
    instance: {
      instanceNumber: intOf(ds, T.InstanceNumber, littleEndian),
      rows: intOf(ds, TAG.Rows, littleEndian),
      columns: intOf(ds, TAG.Columns, littleEndian),
      numberOfFrames: intOf(ds, TAG.NumberOfFrames, littleEndian),
      bitsAllocated: intOf(ds, TAG.BitsAllocated, littleEndian),
      imagePosition: decimals(ds, T.ImagePositionPatient, 3),
      imageOrientation: decimals(ds, T.ImageOrientationPatient, 6),
    },
  };
}

/** What ArchiveInstance.geometry holds for an instance. */
export function indexGeometry(i: IndexHeader["instance"]): { position: number[] | null; orientation: number[] | null } {
  return { position: i.imagePosition, orientation: i.imageOrientation };
}

/** Reads the index fields of a DICOM file or source. Throws DicomParseError when it is not DICOM. */
export function readIndexHeader(input: string | ByteSource): IndexHeader {
  const source = typeof input === "string" ? openSource(input) : input;
  try {
    const parsed = parseDicom(source);
    return indexHeaderOf(parsed.dataset, parsed.meta, parsed.syntax.transferSyntaxUID, parsed.syntax.littleEndian);
  } finally {
    if (typeof input === "string") source.close?.();
  }
}
