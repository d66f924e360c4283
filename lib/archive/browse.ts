// Browsing a project's archive (subjects → experiments → scans), framework-free: the inputs of
// the browse procedures, where a study lives, and the URLs the portal shows. Labels are pseudonyms
// and UIDs are de-identified, so they may appear in URLs.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";

const search = z.string().trim().max(100, "A filter is at most 100 characters.").optional();
const page = z.number().int().min(1).default(1);
const pageSize = z.number().int().min(1).max(200, "At most 200 rows per page.").default(50);

export const browseSubjectsInput = z.object({ projectId: projectIdSchema, search, page, pageSize });
export const browseExperimentsInput = z.object({
  projectId: projectIdSchema,
  /** The subject's label (its pseudonym): subjects that live only on XNAT have no local id. */
  subject: z.string().trim().min(1, "Name a subject by its label.").max(200),
  search,
  page,
  pageSize,
});
export const browseScansInput = z.object({ projectId: projectIdSchema, experimentId: z.string().trim().min(1).max(64), search, page, pageSize });
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "Give dates as YYYY-MM-DD.")
  .optional();

/**
 * Searching experiments across subjects: a modality (exact, e.g. MR), words of the study or a
 * series description, a study date range (the shifted dates the archive holds, YYYY-MM-DD).
 */
export const browseSearchInput = z
  .object({
    projectId: projectIdSchema,
    modality: z.string().trim().toUpperCase().max(16, "A modality is at most 16 characters, e.g. MR.").optional(),
    text: z.string().trim().max(100, "Search text is at most 100 characters.").optional(),
    from: day,
    to: day,
    page,
    pageSize,
  })
  .refine((v) => Boolean(v.modality || v.text || v.from || v.to), { message: "Give a modality, words of a description or a date range to search for." })
  .refine((v) => !v.from || !v.to || v.from <= v.to, { message: "The start date is after the end date: swap them." });
export type BrowseSearch = z.infer<typeof browseSearchInput>;

/** YYYY-MM-DD as the archive's DA (YYYYMMDD). */
export function toDicomDate(d: string): string {
  return d.replaceAll("-", "");
}

/** The larger view of a scan: its instances, and the stored header of the one at `index` (0-based). */
export const browseScanViewInput = z.object({ projectId: projectIdSchema, scanId: z.string().trim().min(1).max(64), index: z.number().int().min(0).max(100_000).default(0) });

export const setCollaboratorDownloadInput = z.object({ projectId: projectIdSchema, allowed: z.boolean() });

/** A LIKE pattern matching `text` anywhere, with LIKE's wildcards in it taken literally. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export type ArchiveStatus = "queued" | "sending" | "verifying" | "archived" | "failed";

export interface StudyLocation {
  /** "local": in Atrium's own archive (browsable, downloadable); "xnat": on the project's XNAT. */
  where: "local" | "xnat";
  /** For XNAT: a link to the experiment there (http/https only), else null. */
  href: string | null;
  /** What to show: "Local archive" or the XNAT host and project. */
  label: string;
}

/**
 * Where a study lives, from its StudyArchive row (targetKind, location) and the project's XNAT
 * target. A study indexed in the local archive is local whatever the project's target is now.
 */
export function studyLocation(
  indexedLocally: boolean,
  archive: { targetKind: string; location: string | null } | null,
  xnat: { url: string | null; project: string | null } | null,
): StudyLocation {
  if (indexedLocally || !archive || archive.targetKind !== "xnat") return { where: "local", href: null, label: "Local archive" };
  const href = safeHttpUrl(archive.location) ?? safeHttpUrl(xnat?.url ?? null);
  const host = hostOf(href) ?? hostOf(xnat?.url ?? null);
  const label = `XNAT${host ? ` ${host}` : ""}${xnat?.project ? ` · ${xnat.project}` : ""}`;
  return { where: "xnat", href, label };
}

function safeHttpUrl(u: string | null): string | null {
  if (!u) return null;
  try {
    const url = new URL(u);
    return url.protocol === "https:" || url.protocol === "http:" ? url.toString() : null;
  } catch {
    return null;
  }
}

function hostOf(u: string | null): string | null {
  if (!u) return null;
  try {
    return new URL(u).host;
  } catch {
    return null;
  }
}

/** The rendered thumbnail of a series, served by the project's DICOMweb routes. */
export function thumbnailUrl(projectId: string, studyInstanceUid: string, seriesInstanceUid: string): string {
  return `/dicomweb/projects/${encodeURIComponent(projectId)}/studies/${encodeURIComponent(studyInstanceUid)}/series/${encodeURIComponent(seriesInstanceUid)}/thumbnail`;
}

/** The download URLs of the portal's HTTP route (ids only). */
export function downloadUrl(projectId: string, what?: { scan: string } | { experiment: string }): string {
  const base = `/api/projects/${encodeURIComponent(projectId)}/download`;
  if (!what) return base;
  return "scan" in what ? `${base}?scan=${encodeURIComponent(what.scan)}` : `${base}?experiment=${encodeURIComponent(what.experiment)}`;
}

/** A page of a list already in memory. */
export function pageOf<T>(items: readonly T[], page: number, pageSize: number): { items: T[]; total: number; page: number; pageSize: number } {
  return { items: items.slice((page - 1) * pageSize, page * pageSize), total: items.length, page, pageSize };
}

/** Bytes for people: 0 B, 512 B, 1.5 KB, 12 MB, 3.4 GB (powers of 1024, at most one decimal). */
export function humanBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "—";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** A DICOM DA value (YYYYMMDD) as YYYY-MM-DD; anything else as given, or null. */
export function dicomDate(da: string | null | undefined): string | null {
  if (!da) return null;
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da.trim() || null;
}
