// Shared fixtures of the archive tests: studies made of real sample files (UIDs read from them).
import { statSync } from "node:fs";
import path from "node:path";
import { parseDicom, stringValue } from "@/lib/dicom/parse";
import { openSource } from "@/lib/dicom/source";
import { experimentLabel, type ArchiveStudy } from "@/lib/archive/driver";
import { SAMPLES_DIR } from "@/lib/samples";

export function uidsOf(file: string): { study: string; series: string; sop: string; transferSyntax: string } {
  const src = openSource(file);
  try {
    const parsed = parseDicom(src);
    const ds = parsed.dataset;
    return { study: stringValue(ds, 0x0020000d)!, series: stringValue(ds, 0x0020000e)!, sop: stringValue(ds, 0x00080018)!, transferSyntax: parsed.syntax.transferSyntaxUID };
  } finally {
    src.close?.();
  }
}

/** An ArchiveStudy of sample files (paths absolute, or names in the samples directory). */
export function studyOf(files: string[], subjectLabel = "SUBJ-0001", studyId = "study-1"): ArchiveStudy {
  const instances = files.map((f, i) => {
    const p = path.isAbsolute(f) ? f : path.join(SAMPLES_DIR, f);
    const u = uidsOf(p);
    return { instanceId: `i${i}`, path: p, sizeBytes: statSync(p).size, seriesInstanceUid: u.series, sopInstanceUid: u.sop, transferSyntaxUid: u.transferSyntax };
  });
  const studyUid = uidsOf(instances[0]!.path).study;
  return { studyId, projectId: "P", studyInstanceUid: studyUid, subjectLabel, experimentLabel: experimentLabel(subjectLabel, studyUid), instances };
}
