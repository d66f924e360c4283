// Downloading archived data as a zip, framework-free: who may download, what a request names, how
// the entries are laid out (subject/experiment/scan/instance.dcm), and the zip itself, streamed
// with yazl in store mode so that no file is held in memory and the total size is known up front.
import type { Readable } from "node:stream";
import yazl from "yazl";
import { z } from "zod";
import type { AccessLevel } from "@/lib/access";

// ─── Access ───────────────────────────────────────────────────────────────────────────────────

export interface DownloadAccessInput {
  projectId: string;
  /** The caller's level in the project (a token: the level its scope gives). */
  level: AccessLevel;
  /** The caller is a project API token (scope "read"), not a signed-in person. */
  viaToken: boolean;
  /** The project's setting: collaborators may download. */
  allowCollaboratorDownload: boolean;
}

export type DownloadDecision = { ok: true } | { ok: false; status: 403; message: string };

/**
 * Whether a caller who may read the project may also download its files.
 * - members and owners (and site admins, who act as owners): always;
 * - a project API token with the "read" scope: always (an owner created it for machine access, and
 *   DICOMweb WADO-RS gives the same files to it);
 * - collaborators (and, on public projects, every signed-in user): only when the project's owners
 *   turned on "Collaborators may download".
 */
export function decideDownloadAccess(input: DownloadAccessInput): DownloadDecision {
  if (input.level === "member" || input.level === "owner") return { ok: true };
  if (input.viaToken && input.level === "collaborator") return { ok: true };
  if (input.level === "collaborator" && input.allowCollaboratorDownload) return { ok: true };
  if (input.level === "collaborator") {
    return {
      ok: false,
      status: 403,
      message: `Collaborators may browse project "${input.projectId}" but not download its files: its owners have not allowed it. Ask a project owner to turn on "Collaborators may download" in the project's Overview tab (Downloads), or to make you a member.`,
    };
  }
  return { ok: false, status: 403, message: `You need read access to project "${input.projectId}" to download its files. Ask one of its owners.` };
}

// ─── What a request names ─────────────────────────────────────────────────────────────────────

const idSchema = z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, "An id is letters, digits, '_' or '-'.");
export const MAX_SELECTION = 10_000;

/** GET /api/projects/{id}/download?scan=… or ?experiment=…: exactly one of them. */
export const downloadQuerySchema = z
  .object({ scan: idSchema.optional(), experiment: idSchema.optional() })
  .refine((q) => Boolean(q.scan) !== Boolean(q.experiment), {
    message: "Name exactly one thing to download: ?scan=<scan id> or ?experiment=<experiment id> (POST a JSON selection for more).",
  });

/** POST /api/projects/{id}/download: a selection of scans and experiments (ids from the browse API). */
export const downloadSelectionSchema = z
  .object({
    scans: z.array(idSchema).max(MAX_SELECTION, `At most ${MAX_SELECTION} scans at once; download in parts.`).default([]),
    experiments: z.array(idSchema).max(MAX_SELECTION, `At most ${MAX_SELECTION} experiments at once; download in parts.`).default([]),
    /** Whole subjects, by label (their pseudonyms): every experiment of theirs in the local archive. */
    subjects: z.array(z.string().trim().min(1).max(200)).max(MAX_SELECTION, `At most ${MAX_SELECTION} subjects at once; download in parts.`).default([]),
  })
  .refine((s) => s.scans.length + s.experiments.length + s.subjects.length > 0, { message: "The selection is empty: give at least one scan, experiment or subject." });
export type DownloadSelection = z.infer<typeof downloadSelectionSchema>;

// ─── Layout ───────────────────────────────────────────────────────────────────────────────────

/** One archived instance to put in the zip, with where it sits in the hierarchy. */
export interface DownloadInstance {
  subjectLabel: string;
  experimentId: string;
  experimentLabel: string;
  scanId: string;
  seriesNumber: number | null;
  modality: string | null;
  sopInstanceUid: string;
  instanceNumber: number | null;
  blobKey: string;
  sizeBytes: number;
}

export interface ZipEntryPlan {
  name: string;
  blobKey: string;
  size: number;
}

export interface DownloadSummary {
  subjects: number;
  experiments: number;
  scans: number;
  instances: number;
  bytes: number;
}

/** A path segment from a label: letters, digits, '.', '_' and '-' only, never '.' or '..'. */
export function safeSegment(label: string, fallback = "unnamed"): string {
  const s = label.trim().replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "_").slice(0, 100);
  return s && s !== "_" ? s : fallback;
}

/** The scan's folder: its series number and modality, e.g. "3-MR" (XNAT's scan id is the series number). */
export function scanFolder(seriesNumber: number | null, modality: string | null): string {
  const n = seriesNumber ?? "x";
  return modality ? `${n}-${safeSegment(modality, "OT")}` : String(n);
}

/**
 * The zip's entries: subject/experiment/scan/NNNNNN.dcm, ordered by subject, experiment, series
 * number and instance number; names are unique (a repeated folder or instance number gets a suffix).
 */
export function planZip(instances: readonly DownloadInstance[]): { entries: ZipEntryPlan[]; summary: DownloadSummary } {
  const sorted = [...instances].sort(
    (a, b) =>
      cmp(a.subjectLabel, b.subjectLabel) ||
      cmp(a.experimentLabel, b.experimentLabel) ||
      cmp(a.experimentId, b.experimentId) ||
      (a.seriesNumber ?? Number.MAX_SAFE_INTEGER) - (b.seriesNumber ?? Number.MAX_SAFE_INTEGER) ||
      cmp(a.scanId, b.scanId) ||
      (a.instanceNumber ?? Number.MAX_SAFE_INTEGER) - (b.instanceNumber ?? Number.MAX_SAFE_INTEGER) ||
      cmp(a.sopInstanceUid, b.sopInstanceUid),
  );
  const expFolder = new Map<string, string>();
  const scanPath = new Map<string, string>();
  const used = new Set<string>();
  const unique = (base: string, ext = "") => {
    let name = base + ext;
    for (let i = 2; used.has(name); i++) name = `${base}_${i}${ext}`;
    used.add(name);
    return name;
  };
  const entries: ZipEntryPlan[] = [];
  const subjects = new Set<string>();
  let bytes = 0;
  for (const i of sorted) {
    subjects.add(i.subjectLabel);
    let exp = expFolder.get(i.experimentId);
    if (!exp) {
      exp = unique(`${safeSegment(i.subjectLabel)}/${safeSegment(i.experimentLabel)}`);
      expFolder.set(i.experimentId, exp);
    }
    let scan = scanPath.get(i.scanId);
    if (!scan) {
      scan = unique(`${exp}/${scanFolder(i.seriesNumber, i.modality)}`);
      scanPath.set(i.scanId, scan);
    }
    const n = i.instanceNumber !== null && i.instanceNumber >= 0 ? String(i.instanceNumber).padStart(6, "0") : "instance";
    entries.push({ name: unique(`${scan}/${n}`, ".dcm"), blobKey: i.blobKey, size: i.sizeBytes });
    bytes += i.sizeBytes;
  }
  return { entries, summary: { subjects: subjects.size, experiments: expFolder.size, scans: scanPath.size, instances: entries.length, bytes } };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ─── The zip stream ───────────────────────────────────────────────────────────────────────────

/** Opens one stored file for reading (the blob store's get). */
export type OpenBlob = (key: string) => Promise<Readable> | Readable;

export interface ZipDownload {
  /** The zip, to be a Response body. Cancelling it (the client went away) closes every open file. */
  stream: ReadableStream<Uint8Array>;
  /** Its exact length in bytes (store mode with known sizes), for Content-Length. */
  size: number;
}

export interface ZipDownloadOptions {
  /** Called once when the zip ends: completed, cancelled by the consumer, or failed. */
  onFinish?: (outcome: { status: "complete" | "cancelled" | "failed"; bytes: number; error?: Error }) => void;
}

const FIXED_MTIME = new Date(Date.UTC(2000, 0, 1));

/**
 * Streams the entries as a zip in store mode: one file open at a time, read as the consumer pulls
 * (back-pressure holds through yazl), and the total size computed before the first byte. yazl checks
 * each file's length against its planned size, so a truncated blob fails the download instead of
 * producing a corrupt zip.
 */
export function zipDownload(entries: readonly ZipEntryPlan[], open: OpenBlob, options: ZipDownloadOptions = {}): ZipDownload {
  const zip = new yazl.ZipFile();
  const open_ = new Set<Readable>();
  let finished = false;
  let produced = 0;
  const finish = (status: "complete" | "cancelled" | "failed", error?: Error) => {
    if (finished) return;
    finished = true;
    for (const s of open_) s.destroy();
    open_.clear();
    options.onFinish?.({ status, bytes: produced, ...(error ? { error } : {}) });
  };
  for (const e of entries) {
    zip.addReadStreamLazy(e.name, { compress: false, size: e.size, mtime: FIXED_MTIME }, (cb) => {
      if (finished) return; // cancelled: never open another file
      Promise.resolve()
        .then(() => open(e.blobKey))
        .then((s) => {
          if (finished) {
            s.destroy();
            return;
          }
          open_.add(s);
          s.once("close", () => open_.delete(s));
          // yazl does not listen for read errors: a missing or unreadable blob fails the zip here.
          s.once("error", (err: Error) => zip.emit("error", new Error(`a stored file could not be read (${err.message})`)));
          cb(null, s);
        })
        .catch((err: unknown) => cb(err instanceof Error ? err : new Error(String(err)), undefined as unknown as Readable));
    });
  }
  let size = -1;
  // @types/yazl leaves out the callback's argument: the total size, or -1 when it cannot be known.
  (zip.end as (options: object, calculatedTotalSizeCallback: (total: number) => void) => void).call(zip, {}, (total) => {
    size = total;
  });
  if (size < 0) throw new Error("zip size could not be computed (an entry without a known size)");
  const out = zip.outputStream as Readable;
  let iterator: AsyncIterator<Buffer> | null = null;
  let failure: Error | null = null;
  zip.on("error", (err: Error) => {
    failure = err;
    out.destroy(err);
  });
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        iterator ??= out[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        try {
          const r = await iterator.next();
          if (r.done) {
            if (failure) throw failure;
            controller.close();
            finish("complete");
            return;
          }
          produced += r.value.length;
          controller.enqueue(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength));
        } catch (e) {
          const err = failure ?? (e instanceof Error ? e : new Error(String(e)));
          finish("failed", err);
          controller.error(err);
        }
      },
      cancel() {
        finish("cancelled");
        out.destroy();
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, size };
}

/** The file name offered for the download (ASCII, no PHI: project id and pseudonym-based labels). */
export function downloadFileName(parts: readonly string[]): string {
  return `${parts.map((p) => safeSegment(p)).join("_")}.zip`;
}
