// Where the shared real DICOM samples are (tests and benchmarks read them in place, never copy
// them into the repository): ATRIUM_DICOM_SAMPLES, else ../shared/dicom-samples beside the
// checkout, else /work/shared/dicom-samples.
import { existsSync } from "node:fs";
import path from "node:path";

function locate(): string {
  const candidates = [
    process.env.ATRIUM_DICOM_SAMPLES,
    path.resolve(import.meta.dirname, "..", "..", "shared", "dicom-samples"),
    "/work/shared/dicom-samples",
  ].filter((c): c is string => Boolean(c));
  return candidates.find((c) => existsSync(path.join(c, "MANIFEST.tsv"))) ?? candidates[candidates.length - 1]!;
}

export const SAMPLES_DIR = locate();
