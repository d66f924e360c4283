// Browser upload (POST /api/projects/{projectId}/upload): the payloads shared by the route (producer)
// and the portal (consumer), and the small decisions the route and the UI both make. Framework-free.
import { z } from "zod";

/** One browser upload session: every request of it carries the same batch id, so its outcome can be followed. */
export const batchIdSchema = z.string().uuid("The batch id must be a UUID (one per browser upload session).");

/** What happened to one uploaded file, or to one entry of an uploaded zip archive. */
export const uploadOutcomeSchema = z.enum([
  /** Stored and recorded; de-identification follows (see upload.batch). */
  "accepted",
  /** Stored and recorded, but quarantined at once (reason says why). */
  "quarantined",
  /** Not stored: not a DICOM file, or not a complete one (reason says why). */
  "skipped",
  /** Not stored: too large or a server problem; sending it again may work (reason says why). */
  "failed",
]);
export type UploadOutcome = z.infer<typeof uploadOutcomeSchema>;

export const uploadResultSchema = z.object({
  /** The file's name as sent (for a zip entry: its path inside the archive). Only in the response, never logged. */
  name: z.string(),
  outcome: uploadOutcomeSchema,
  reason: z.string().nullable(),
  /** The recorded instance (accepted, quarantined): the key into upload.batch. */
  instanceId: z.string().nullable(),
  sizeBytes: z.number().int().nonnegative(),
});
export type UploadResult = z.infer<typeof uploadResultSchema>;

/** A 200 answer: the request was read to its end and every file in it has an outcome. */
export const uploadResponseSchema = z.object({
  batchId: batchIdSchema,
  /** "file": one DICOM file; "zip": a zip archive, one result per file entry. */
  kind: z.enum(["file", "zip"]),
  results: z.array(uploadResultSchema),
  /** Entries of a zip that were passed over without a result (folders, __MACOSX, .DS_Store). */
  ignoredEntries: z.number().int().nonnegative(),
});
export type UploadResponse = z.infer<typeof uploadResponseSchema>;

/** Any other answer: what is wrong and what to do. */
export const uploadErrorSchema = z.object({ error: z.string() });

export const uploadBatchInput = z.object({ projectId: z.string(), batchId: batchIdSchema });

export const UPLOAD_FILE_TYPES = ["application/dicom", "application/octet-stream"] as const;
export const UPLOAD_ZIP_TYPES = ["application/zip", "application/x-zip-compressed", "application/x-zip"] as const;

/** How the route reads a body, from its Content-Type (media type only, parameters ignored); null: refused. */
export function uploadKindOf(contentType: string | null): "file" | "zip" | null {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if ((UPLOAD_FILE_TYPES as readonly string[]).includes(type)) return "file";
  if ((UPLOAD_ZIP_TYPES as readonly string[]).includes(type)) return "zip";
  return null;
}

/** The Content-Type the portal sends a chosen file with. */
export function contentTypeForFile(name: string, browserType: string): string {
  if (/\.zip$/i.test(name) || (UPLOAD_ZIP_TYPES as readonly string[]).includes(browserType)) return "application/zip";
  return "application/dicom";
}

/**
 * Whether a zip entry is passed over without a result: folders, macOS resource forks (__MACOSX/,
 * ._name), Finder and Explorer litter (.DS_Store, Thumbs.db, desktop.ini).
 */
export function isIgnoredZipEntry(fileName: string): boolean {
  if (fileName.endsWith("/") || fileName.endsWith("\\")) return true;
  const parts = fileName.split(/[/\\]/);
  if (parts.includes("__MACOSX")) return true;
  const base = parts[parts.length - 1] ?? "";
  return base === ".DS_Store" || base.startsWith("._") || base === "Thumbs.db" || base === "desktop.ini";
}

/** Whether a file chosen in the browser (a folder's content, a drop) is passed over without uploading it. */
export function isIgnoredLocalFile(relativePath: string): boolean {
  return isIgnoredZipEntry(relativePath);
}

export const INSTANCE_STATUSES = ["received", "deidentified", "duplicate", "skipped", "quarantined", "review"] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

export interface BatchInstance {
  id: string;
  status: InstanceStatus;
  reason: string | null;
}

/** The live state of one browser upload session: totals, and whether de-identification is still running. */
export interface BatchCounts {
  /** Recorded, still waiting for de-identification. */
  processing: number;
  deidentified: number;
  duplicate: number;
  quarantined: number;
  /** Recorded but skipped by de-identification (e.g. a resend with nothing new). */
  skipped: number;
  /** De-identified, held for a pixel review (burned-in text possible). */
  review: number;
  total: number;
  done: boolean;
}

export function countBatch(instances: readonly Pick<BatchInstance, "status">[]): BatchCounts {
  const c: BatchCounts = { processing: 0, deidentified: 0, duplicate: 0, quarantined: 0, skipped: 0, review: 0, total: 0, done: true };
  for (const i of instances) {
    c.total++;
    if (i.status === "received") c.processing++;
    else c[i.status]++;
  }
  c.done = c.processing === 0;
  return c;
}

/** Quarantine (or skip) reasons of a batch, most frequent first. */
export function reasonsOf(instances: readonly BatchInstance[]): { reason: string; count: number }[] {
  const m = new Map<string, number>();
  for (const i of instances) if ((i.status === "quarantined" || i.status === "skipped") && i.reason) m.set(i.reason, (m.get(i.reason) ?? 0) + 1);
  return [...m].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

export interface UploadTally {
  /** Recorded, de-identification still running. */
  processing: number;
  deidentified: number;
  duplicate: number;
  quarantined: number;
  /** Not stored: not DICOM, incomplete, unreadable in the archive. */
  skipped: number;
  /** De-identified, held for a pixel review. */
  review: number;
  /** Not stored: too large, a server problem, the request failed; may be retried. */
  failed: number;
  /** Why files were skipped, quarantined or failed, most frequent first. */
  reasons: { outcome: "skipped" | "quarantined" | "failed"; reason: string; count: number }[];
}

/**
 * Adds up an upload session: the route's per-file results, brought up to date with the instances'
 * live statuses from upload.batch (by instance id), plus requests that failed as a whole.
 */
export function tallyUpload(
  results: readonly UploadResult[],
  live: ReadonlyMap<string, Pick<BatchInstance, "status" | "reason">>,
  requestFailures: readonly string[] = [],
): UploadTally {
  const t: UploadTally = { processing: 0, deidentified: 0, duplicate: 0, quarantined: 0, skipped: 0, review: 0, failed: 0, reasons: [] };
  const reasons = new Map<string, { outcome: "skipped" | "quarantined" | "failed"; reason: string; count: number }>();
  const note = (outcome: "skipped" | "quarantined" | "failed", reason: string | null) => {
    const r = reason ?? "(no reason given)";
    const key = `${outcome}\u0000${r}`;
    const e = reasons.get(key);
    if (e) e.count++;
    else reasons.set(key, { outcome, reason: r, count: 1 });
  };
  for (const r of results) {
    if (r.outcome === "skipped" || r.outcome === "failed") {
      t[r.outcome]++;
      note(r.outcome, r.reason);
      continue;
    }
    const now = r.instanceId ? live.get(r.instanceId) : undefined;
    const status = now?.status ?? (r.outcome === "quarantined" ? "quarantined" : "received");
    if (status === "received") t.processing++;
    else if (status === "quarantined") {
      t.quarantined++;
      note("quarantined", now?.reason ?? r.reason);
    } else if (status === "skipped") {
      t.skipped++;
      note("skipped", now?.reason ?? null);
    } else t[status]++;
  }
  for (const f of requestFailures) {
    t.failed++;
    note("failed", f);
  }
  t.reasons = [...reasons.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  return t;
}

/** Bytes the upload looks at before writing a file further (the Part 10 preamble and prefix). */
export const SNIFF_BYTES = 132;

/**
 * Whether the first bytes of a file can start a DICOM file, by the same first check as
 * readPart10Info (which stays the judge once the file is staged): "DICM" after the 128-byte
 * preamble, or a dataset starting with group 0002 or 0008 (little endian). Lets an upload skip a
 * large non-DICOM file (or a zip bomb's entry) after 132 bytes instead of writing it whole first.
 * `complete`: `head` is the whole file (shorter than SNIFF_BYTES).
 */
export function couldBeDicom(head: Uint8Array, complete: boolean): boolean {
  if (head.length === 0) return false;
  if (head.length < SNIFF_BYTES && !complete) return true;
  if (head.length >= SNIFF_BYTES && head[128] === 0x44 && head[129] === 0x49 && head[130] === 0x43 && head[131] === 0x4d) return true;
  if (head.length < 8) return false;
  const group = head[0]! | (head[1]! << 8);
  return group === 0x0002 || group === 0x0008;
}

// ─── Bounds on what a zip archive and a batch may stage ──────────────────────────────────────────

/** One entry of a zip's central directory, as the bound check needs it. */
export interface ZipEntryInfo {
  name: string;
  /** Declared size once expanded (yauzl checks that the entry's data is exactly this long). */
  uncompressedSize: number;
  encrypted: boolean;
}

export interface ExpansionLimits {
  /** Largest single file (ATRIUM_MAX_INSTANCE_MB): larger entries are refused one by one, not staged. */
  maxEntryBytes: number;
  /** ATRIUM_UPLOAD_EXPANDED_MB */
  maxExpandedBytes: number;
  /** ATRIUM_UPLOAD_BATCH_MB */
  maxBatchBytes: number;
  /** ATRIUM_UPLOAD_MAX_RATIO */
  maxRatio: number;
}

/** Most entries a zip archive may have. */
export const MAX_ZIP_ENTRIES = 100_000;
/** Below this many expanded bytes the compression ratio is not checked (small files compress well). */
export const RATIO_FLOOR_BYTES = 8 * 1024 * 1024;

export type ExpansionDecision = { ok: true; expandedBytes: number } | { ok: false; message: string };

const mib = (bytes: number) => (bytes >= 1024 * 1024 ? `${Math.round(bytes / 1024 / 1024)} MB` : `${Math.ceil(bytes / 1024)} KB`);

/**
 * Whether a zip archive may be unpacked, decided from its central directory before any entry is
 * staged (so a refused archive leaves nothing behind): the entries that would be staged (not
 * ignored, not encrypted, not over the single-file limit) must expand to at most maxExpandedBytes,
 * at most maxRatio times the archive's size (checked above RATIO_FLOOR_BYTES), and together with
 * what the batch already staged (`batchBytes`) to at most maxBatchBytes.
 */
export function decideZipExpansion(entries: readonly ZipEntryInfo[], archiveBytes: number, batchBytes: number, limits: ExpansionLimits): ExpansionDecision {
  if (entries.length > MAX_ZIP_ENTRIES) {
    return { ok: false, message: `This zip archive has ${entries.length} entries; at most ${MAX_ZIP_ENTRIES} are unpacked per request. Split it into smaller archives.` };
  }
  let expanded = 0;
  for (const e of entries) {
    if (isIgnoredZipEntry(e.name) || e.encrypted || e.uncompressedSize > limits.maxEntryBytes) continue;
    expanded += e.uncompressedSize;
  }
  if (expanded > limits.maxExpandedBytes) {
    return {
      ok: false,
      message: `This zip archive expands to ${mib(expanded)}, more than the ${mib(limits.maxExpandedBytes)} one upload may unpack (ATRIUM_UPLOAD_EXPANDED_MB); nothing of it was kept. Split it into smaller archives, upload the folder instead, or send large studies by C-STORE.`,
    };
  }
  if (expanded > RATIO_FLOOR_BYTES && expanded > limits.maxRatio * Math.max(1, archiveBytes)) {
    return {
      ok: false,
      message: `This zip archive expands ${Math.round(expanded / Math.max(1, archiveBytes))} times its size (${mib(archiveBytes)} to ${mib(expanded)}), more than the ${limits.maxRatio} times allowed (ATRIUM_UPLOAD_MAX_RATIO); nothing of it was kept. DICOM files do not compress that well: check the archive, or upload the folder instead.`,
    };
  }
  if (batchBytes + expanded > limits.maxBatchBytes) {
    return {
      ok: false,
      message: `This upload session has staged ${mib(batchBytes)}; this archive (${mib(expanded)}) would take it past the ${mib(limits.maxBatchBytes)} one session may upload (ATRIUM_UPLOAD_BATCH_MB); nothing of it was kept. Send large studies by C-STORE, or ask your administrator to raise the limit.`,
    };
  }
  return { ok: true, expandedBytes: expanded };
}

/** A single file of `fileBytes` (0: not known) in a batch that staged `batchBytes`: refused past maxBatchBytes. */
export function decideBatchRoom(fileBytes: number, batchBytes: number, maxBatchBytes: number): { ok: true } | { ok: false; message: string } {
  if (batchBytes + fileBytes <= maxBatchBytes) return { ok: true };
  return {
    ok: false,
    message: `This upload session has staged ${mib(batchBytes)}, the most one session may upload is ${mib(maxBatchBytes)} (ATRIUM_UPLOAD_BATCH_MB); this file was not kept. Send large studies by C-STORE, or ask your administrator to raise the limit.`,
  };
}
