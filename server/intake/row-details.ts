// What tells quarantined rows apart without showing header values: the modality as sent, short
// tags of the (identifying) Study and Series Instance UIDs (a hash, so rows of one study or
// series share a tag, and the UID cannot be read back), the series and instance numbers. Read
// from the staged file's header (pixel data is not read), cached per instance: a quarantined
// file does not change while it is quarantined.
import { createHash } from "node:crypto";
import path from "node:path";
import { FileSource } from "@/lib/dicom/source";
import { numberValue, parseDicom, stringValue } from "@/lib/dicom/parse";
import { TAG } from "@/lib/dicom/dictionary";

export interface RowDetails {
  modality: string | null;
  /** 6 hex digits of a hash of the Study Instance UID. */
  study: string | null;
  series: string | null;
  seriesNumber: number | null;
  instanceNumber: number | null;
}

const NONE: RowDetails = { modality: null, study: null, series: null, seriesNumber: null, instanceNumber: null };
const cache = new Map<string, RowDetails>();
const CACHE_MAX = 20_000;

/** A short, non-reversible tag of a UID (6 hex digits of SHA-256). */
export function uidTag(uid: string | undefined): string | null {
  return uid ? createHash("sha256").update(uid).digest("hex").slice(0, 6) : null;
}

function read(file: string): RowDetails {
  let src: FileSource | undefined;
  try {
    src = new FileSource(file);
    const ds = parseDicom(src).dataset;
    const int = (tag: number) => {
      const n = numberValue(ds, tag);
      return n === undefined ? null : Math.trunc(n);
    };
    return {
      modality: stringValue(ds, TAG.Modality)?.slice(0, 16) || null,
      study: uidTag(stringValue(ds, TAG.StudyInstanceUID)),
      series: uidTag(stringValue(ds, TAG.SeriesInstanceUID)),
      seriesNumber: int(0x00200011),
      instanceNumber: int(0x00200013),
    };
  } catch {
    // Not DICOM, truncated, or the staged file is gone: the row says what the reason says.
    return NONE;
  } finally {
    src?.close();
  }
}

/** Details of the rows of one page (at most a few hundred), from the cache or the staged files. */
export function rowDetails(dataDir: string, rows: { id: string; stagingPath: string }[]): Map<string, RowDetails> {
  const out = new Map<string, RowDetails>();
  for (const r of rows) {
    let d = cache.get(r.id);
    if (!d) {
      d = read(path.join(dataDir, r.stagingPath));
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(r.id, d);
    }
    out.set(r.id, d);
  }
  return out;
}
