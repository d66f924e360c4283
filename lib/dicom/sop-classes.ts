// What a row of a list is, from its SOP Class UID and transfer syntax (DICOM PS3.4 Annex B,
// PS3.6 Annex A): a name a data manager recognises and the modality it implies. Pure.

const SOP_CLASSES: Record<string, [name: string, modality: string]> = {
  "1.2.840.10008.5.1.4.1.1.1": ["CR Image", "CR"],
  "1.2.840.10008.5.1.4.1.1.1.1": ["Digital X-Ray Image", "DX"],
  "1.2.840.10008.5.1.4.1.1.1.1.1": ["Digital X-Ray Image (processing)", "DX"],
  "1.2.840.10008.5.1.4.1.1.1.2": ["Digital Mammography Image", "MG"],
  "1.2.840.10008.5.1.4.1.1.1.2.1": ["Digital Mammography Image (processing)", "MG"],
  "1.2.840.10008.5.1.4.1.1.1.3": ["Intra-oral X-Ray Image", "IO"],
  "1.2.840.10008.5.1.4.1.1.2": ["CT Image", "CT"],
  "1.2.840.10008.5.1.4.1.1.2.1": ["Enhanced CT Image", "CT"],
  "1.2.840.10008.5.1.4.1.1.3.1": ["Ultrasound Multi-frame Image", "US"],
  "1.2.840.10008.5.1.4.1.1.4": ["MR Image", "MR"],
  "1.2.840.10008.5.1.4.1.1.4.1": ["Enhanced MR Image", "MR"],
  "1.2.840.10008.5.1.4.1.1.4.2": ["MR Spectroscopy", "MR"],
  "1.2.840.10008.5.1.4.1.1.4.3": ["Enhanced MR Color Image", "MR"],
  "1.2.840.10008.5.1.4.1.1.6.1": ["Ultrasound Image", "US"],
  "1.2.840.10008.5.1.4.1.1.6.2": ["Enhanced US Volume", "US"],
  "1.2.840.10008.5.1.4.1.1.7": ["Secondary Capture Image", "OT"],
  "1.2.840.10008.5.1.4.1.1.7.1": ["Multi-frame Single Bit SC Image", "OT"],
  "1.2.840.10008.5.1.4.1.1.7.2": ["Multi-frame Grayscale Byte SC Image", "OT"],
  "1.2.840.10008.5.1.4.1.1.7.3": ["Multi-frame Grayscale Word SC Image", "OT"],
  "1.2.840.10008.5.1.4.1.1.7.4": ["Multi-frame True Color SC Image", "OT"],
  "1.2.840.10008.5.1.4.1.1.12.1": ["X-Ray Angiographic Image", "XA"],
  "1.2.840.10008.5.1.4.1.1.12.2": ["X-Ray Radiofluoroscopic Image", "RF"],
  "1.2.840.10008.5.1.4.1.1.20": ["Nuclear Medicine Image", "NM"],
  "1.2.840.10008.5.1.4.1.1.66": ["Raw Data", "OT"],
  "1.2.840.10008.5.1.4.1.1.66.1": ["Spatial Registration", "REG"],
  "1.2.840.10008.5.1.4.1.1.66.4": ["Segmentation", "SEG"],
  "1.2.840.10008.5.1.4.1.1.77.1.6": ["VL Whole Slide Microscopy Image", "SM"],
  "1.2.840.10008.5.1.4.1.1.88.11": ["Basic Text SR", "SR"],
  "1.2.840.10008.5.1.4.1.1.88.22": ["Enhanced SR", "SR"],
  "1.2.840.10008.5.1.4.1.1.88.33": ["Comprehensive SR", "SR"],
  "1.2.840.10008.5.1.4.1.1.104.1": ["Encapsulated PDF", "DOC"],
  "1.2.840.10008.5.1.4.1.1.128": ["PET Image", "PT"],
  "1.2.840.10008.5.1.4.1.1.130": ["Enhanced PET Image", "PT"],
  "1.2.840.10008.5.1.4.1.1.481.1": ["RT Image", "RTIMAGE"],
  "1.2.840.10008.5.1.4.1.1.481.2": ["RT Dose", "RTDOSE"],
  "1.2.840.10008.5.1.4.1.1.481.3": ["RT Structure Set", "RTSTRUCT"],
  "1.2.840.10008.5.1.4.1.1.481.5": ["RT Plan", "RTPLAN"],
};

const TRANSFER_SYNTAXES: Record<string, string> = {
  "1.2.840.10008.1.2": "Implicit VR Little Endian",
  "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
  "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
  "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
  "1.2.840.10008.1.2.4.50": "JPEG Baseline",
  "1.2.840.10008.1.2.4.51": "JPEG Extended",
  "1.2.840.10008.1.2.4.57": "JPEG Lossless",
  "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
  "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
  "1.2.840.10008.1.2.4.81": "JPEG-LS Near-lossless",
  "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
  "1.2.840.10008.1.2.4.91": "JPEG 2000",
  "1.2.840.10008.1.2.4.201": "HTJ2K Lossless",
  "1.2.840.10008.1.2.4.203": "HTJ2K",
  "1.2.840.10008.1.2.5": "RLE Lossless",
};

/** "MR Image" for 1.2.840.10008.5.1.4.1.1.4; the UID itself when unknown; null without one. */
export function sopClassName(uid: string | null | undefined): string | null {
  if (!uid) return null;
  return SOP_CLASSES[uid]?.[0] ?? uid;
}

/** The modality a SOP class implies ("MR", "CT", …), or null when it does not say. */
export function sopClassModality(uid: string | null | undefined): string | null {
  if (!uid) return null;
  return SOP_CLASSES[uid]?.[1] ?? null;
}

export function transferSyntaxName(uid: string | null | undefined): string | null {
  if (!uid) return null;
  return TRANSFER_SYNTAXES[uid] ?? uid;
}
