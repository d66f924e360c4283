// CSV export of an audit view: asks the API for every page matching the filters (newest first)
// and saves them as one file in the browser.
import { auditCsv, type AuditCsvEvent } from "@/lib/audit";
import { saveBlob } from "@/components/projects/download-client";

export async function exportAuditCsv(
  fetchPage: (cursor: string | undefined) => Promise<{ events: AuditCsvEvent[]; nextCursor: string | null }>,
  fileName: string,
  onProgress?: (n: number) => void,
): Promise<number> {
  const events: AuditCsvEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    events.push(...page.events);
    onProgress?.(events.length);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  saveBlob(new Blob([auditCsv(events)], { type: "text/csv;charset=utf-8" }), fileName);
  return events.length;
}

/** A day's start in local time from an <input type="date"> value. */
export function dayStart(s: string): Date | undefined {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) ? new Date(`${s}T00:00:00`) : undefined;
}
/** The start of the day after (an "until" date includes its whole day). */
export function nextDay(s: string): Date | undefined {
  const d = dayStart(s);
  return d ? new Date(d.getTime() + 86_400_000) : undefined;
}
