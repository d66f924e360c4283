// UIDs and the acceptance policy of Atrium's DICOM network layer (no dcmjs-dimse import here).

/** Atrium's Implementation Class UID (a UUID-derived 2.25 UID, PS3.5 §B.2) and version name (SH, ≤ 16). */
export const ATRIUM_IMPLEMENTATION_CLASS_UID = "2.25.257183957319371291517590470278779182758";
export const ATRIUM_IMPLEMENTATION_VERSION = "ATRIUM_0_1";

export const VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1";
export const MEDIA_STORAGE_DIRECTORY_SOP_CLASS = "1.2.840.10008.1.3.10";

export const TS = {
  ImplicitVRLittleEndian: "1.2.840.10008.1.2",
  ExplicitVRLittleEndian: "1.2.840.10008.1.2.1",
  EncapsulatedUncompressedExplicitVRLittleEndian: "1.2.840.10008.1.2.1.98",
  DeflatedExplicitVRLittleEndian: "1.2.840.10008.1.2.1.99",
  ExplicitVRBigEndian: "1.2.840.10008.1.2.2",
  RleLossless: "1.2.840.10008.1.2.5",
  DeflatedImageFrameCompression: "1.2.840.10008.1.2.8.1",
} as const;

/** Syntaxes whose dataset is not encapsulated pixel data: a sender can re-encode between them losslessly. */
export const UNCOMPRESSED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRLittleEndian,
  TS.ExplicitVRBigEndian,
  TS.DeflatedExplicitVRLittleEndian,
]);

/**
 * Transfer syntaxes the SCP accepts (PS3.5 Annex A / PS3.6 Table A-1): the uncompressed and deflated
 * ones, RLE, every JPEG process (incl. retired ones still seen in old archives), JPEG-LS, JPEG 2000
 * (incl. Part 2 multi-component), MPEG-2/MPEG-4/HEVC video, JPEG XL, HTJ2K, deflated image frames and
 * encapsulated uncompressed. Not accepted: JPIP referenced syntaxes (pixel data is not in the
 * dataset), Papyrus and SMPTE ST 2110 (not files).
 */
const JPEG_PROCESSES = [50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 70];
export const ACCEPTED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRLittleEndian,
  TS.EncapsulatedUncompressedExplicitVRLittleEndian,
  TS.DeflatedExplicitVRLittleEndian,
  TS.ExplicitVRBigEndian,
  TS.RleLossless,
  TS.DeflatedImageFrameCompression,
  ...JPEG_PROCESSES.map((p) => `1.2.840.10008.1.2.4.${p}`),
  "1.2.840.10008.1.2.4.80", // JPEG-LS lossless
  "1.2.840.10008.1.2.4.81", // JPEG-LS near-lossless
  "1.2.840.10008.1.2.4.90", // JPEG 2000 lossless
  "1.2.840.10008.1.2.4.91", // JPEG 2000
  "1.2.840.10008.1.2.4.92", // JPEG 2000 Part 2 multi-component lossless
  "1.2.840.10008.1.2.4.93", // JPEG 2000 Part 2 multi-component
  "1.2.840.10008.1.2.4.100", // MPEG-2 MP@ML
  "1.2.840.10008.1.2.4.100.1",
  "1.2.840.10008.1.2.4.101", // MPEG-2 MP@HL
  "1.2.840.10008.1.2.4.101.1",
  "1.2.840.10008.1.2.4.102", // MPEG-4 AVC/H.264 …
  "1.2.840.10008.1.2.4.102.1",
  "1.2.840.10008.1.2.4.103",
  "1.2.840.10008.1.2.4.103.1",
  "1.2.840.10008.1.2.4.104",
  "1.2.840.10008.1.2.4.104.1",
  "1.2.840.10008.1.2.4.105",
  "1.2.840.10008.1.2.4.105.1",
  "1.2.840.10008.1.2.4.106",
  "1.2.840.10008.1.2.4.106.1",
  "1.2.840.10008.1.2.4.107", // HEVC/H.265
  "1.2.840.10008.1.2.4.108",
  "1.2.840.10008.1.2.4.110", // JPEG XL lossless
  "1.2.840.10008.1.2.4.111", // JPEG XL JPEG recompression
  "1.2.840.10008.1.2.4.112", // JPEG XL
  "1.2.840.10008.1.2.4.201", // HTJ2K lossless
  "1.2.840.10008.1.2.4.202", // HTJ2K lossless RPCL
  "1.2.840.10008.1.2.4.203", // HTJ2K
]);

/**
 * Standard storage SOP classes outside the 1.2.840.10008.5.1.4.1.1 branch (PS3.4 Annex B.5 and
 * the non-patient object storage of Annex GG/HH/…).
 */
const OTHER_STANDARD_STORAGE = new Set([
  "1.2.840.10008.5.1.4.34.7", // RT Beams Delivery Instruction Storage
  "1.2.840.10008.5.1.4.34.10", // RT Brachy Application Setup Delivery Instruction Storage
  "1.2.840.10008.5.1.4.38.1", // Hanging Protocol Storage
  "1.2.840.10008.5.1.4.39.1", // Color Palette Storage
  "1.2.840.10008.5.1.4.43.1", // Generic Implant Template Storage
  "1.2.840.10008.5.1.4.44.1", // Implant Assembly Template Storage
  "1.2.840.10008.5.1.4.45.1", // Implant Template Group Storage
  "1.2.840.10008.5.1.1.27", // Stored Print Storage (retired)
  "1.2.840.10008.5.1.1.29", // Hardcopy Grayscale Image Storage (retired)
  "1.2.840.10008.5.1.1.30", // Hardcopy Color Image Storage (retired)
]);

const UID_RE = /^[0-9]+(\.[0-9]+)*$/;

/** A syntactically valid UID (PS3.5 §9.1): digits and dots, ≤ 64 characters. */
export function isValidUid(uid: string | undefined): uid is string {
  return typeof uid === "string" && uid.length > 0 && uid.length <= 64 && UID_RE.test(uid);
}

/**
 * A UID a receiver can keep as sent: 1–64 printable ASCII characters, no backslash. Some senders
 * use UIDs that are not digits and dots (a hash, say); refusing them would lose the data, and
 * de-identification replaces every UID anyway.
 */
export function isUsableUid(uid: string | undefined): uid is string {
  return typeof uid === "string" && uid.length > 0 && uid.length <= 64 && /^[\x21-\x5b\x5d-\x7e]+$/.test(uid);
}

/**
 * Storage policy by UID, not by a fixed list: every standard storage class (the 1.2.840.10008.5.1.4.1.1
 * branch, present and future, plus the few elsewhere) and — when `acceptPrivate` — any SOP class
 * outside the DICOM root (vendor private storage such as Siemens CSA non-image). Query/retrieve,
 * worklist, MPPS, storage commitment, print, … (other 1.2.840.10008 UIDs) are not storage.
 */
export function isStorageSopClass(uid: string, acceptPrivate = true): boolean {
  if (!isValidUid(uid)) return false;
  if (uid.startsWith("1.2.840.10008.5.1.4.1.1.")) return true;
  if (OTHER_STANDARD_STORAGE.has(uid)) return true;
  return acceptPrivate && !uid.startsWith("1.2.840.10008.");
}
