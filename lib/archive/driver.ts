// The contract between the archive worker and an archive target (the built-in local archive, an
// XNAT). The worker owns the study's state (queued → sending → verifying → archived | failed, with
// retries); a driver only sends and verifies. Both must be idempotent: a study is sent again after
// a crash or when new instances arrive, and must merge into the same experiment.
import { createHash } from "node:crypto";

export interface ArchiveInstanceFile {
  /** ReceivedInstance id. */
  instanceId: string;
  /** Absolute path of the de-identified file. */
  path: string;
  sizeBytes: number;
  /** De-identified UIDs. */
  seriesInstanceUid: string;
  sopInstanceUid: string;
  /** Transfer syntax of the file as sent, when known (a target may store it decompressed). */
  transferSyntaxUid?: string | null;
}

export interface ArchiveStudy {
  /** IntakeStudy id. */
  studyId: string;
  projectId: string;
  /** De-identified Study Instance UID. */
  studyInstanceUid: string;
  /** Labels on the archive: from pseudonyms, never from PHI. */
  subjectLabel: string;
  experimentLabel: string;
  instances: ArchiveInstanceFile[];
}

export interface ArchiveProgress {
  phase: "sending" | "verifying";
  doneBytes: number;
  totalBytes: number;
}

export interface ArchiveCounts {
  scans: number;
  files: number;
  bytes: number;
}

export interface ArchiveVerification {
  ok: boolean;
  expected: ArchiveCounts;
  found: ArchiveCounts;
  /** What differs, for the status page (no PHI). */
  detail?: string;
  /** What is worth knowing though nothing is wrong (e.g. XNAT decompressed on import; sizes are advisory). */
  note?: string;
}

export interface ArchiveDriver {
  readonly kind: "local" | "xnat";
  /** Where the study lives once sent, for the portal: "local" or e.g. "https://xnat.example.org/data/experiments/XNAT_E00012". */
  send(study: ArchiveStudy, onProgress?: (p: ArchiveProgress) => void): Promise<{ location: string }>;
  verify(study: ArchiveStudy): Promise<ArchiveVerification>;
  /** Releases what send/verify kept open (e.g. an XNAT session shared by both); the worker calls it after each attempt. */
  close?(): Promise<void>;
}

/** The experiment (session) label of a study: the subject's pseudonym and a short, stable digest of its de-identified UID. */
export function experimentLabel(subjectLabel: string, studyInstanceUid: string): string {
  const digest = createHash("sha256").update(studyInstanceUid).digest("hex").slice(0, 8).toUpperCase();
  return `${subjectLabel.replace(/[^A-Za-z0-9_-]/g, "_")}_${digest}`;
}

const NATIVE_SYNTAXES = new Set(["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"]);

/** true for a transfer syntax with compressed (encapsulated) pixel data; false when native or unknown. */
export function isCompressedSyntax(uid: string | null | undefined): boolean {
  return !!uid && !NATIVE_SYNTAXES.has(uid);
}

/** Counts a study's expected content: one scan per series. */
export function expectedCounts(study: ArchiveStudy): ArchiveCounts {
  return {
    scans: new Set(study.instances.map((i) => i.seriesInstanceUid)).size,
    files: study.instances.length,
    bytes: study.instances.reduce((n, i) => n + i.sizeBytes, 0),
  };
}
