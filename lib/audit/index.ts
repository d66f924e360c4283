// The audit log's filters (project log and site log alike) and its CSV export. Pure: the portal
// builds the CSV in the browser from the pages the API returns.
import { z } from "zod";

/** Filters every audit view accepts: action (a part of its name), actor (e-mail or name; "system"), dates. */
export const auditFilterFields = {
  /** A part of the action name, any case (e.g. "header.view", "site."). */
  action: z.string().trim().max(100, "The action filter is at most 100 characters.").optional(),
  /** A part of the actor's e-mail or name, any case; "system" for events with no actor. */
  actor: z.string().trim().max(200, "The actor filter is at most 200 characters.").optional(),
  /** At or after. */
  from: z.date().optional(),
  /** Before. */
  to: z.date().optional(),
  cursor: z.string().regex(/^\d+$/, "The cursor is the id of the last event of the previous page.").optional(),
  limit: z.number().int().min(1).max(500).default(50),
};

export const datesInOrder = (f: { from?: Date; to?: Date }) => !(f.from && f.to) || f.from < f.to;
export const DATES_MESSAGE = { message: "The start date must be before the end date.", path: ["to"] };

export interface AuditCsvEvent {
  id: string;
  at: Date | string;
  projectId?: string | null;
  action: string;
  actor: string | null;
  actorEmail: string | null;
  targetType: string | null;
  targetId: string | null;
  before: unknown;
  after: unknown;
}

/** One CSV field (RFC 4180); a leading = + - @ is prefixed with ' so spreadsheets do not run it as a formula. */
export function csvField(v: unknown): string {
  let s = v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const AUDIT_CSV_COLUMNS = ["id", "time (UTC)", "project", "actor", "actor e-mail", "action", "target type", "target", "before", "after"] as const;

/** The audit events as CSV (header line first, CRLF line ends, times in ISO 8601 UTC). */
export function auditCsv(events: AuditCsvEvent[]): string {
  const lines = [AUDIT_CSV_COLUMNS.join(",")];
  for (const e of events) {
    lines.push(
      [e.id, new Date(e.at).toISOString(), e.projectId ?? "", e.actor, e.actorEmail, e.action, e.targetType, e.targetId, e.before, e.after].map(csvField).join(","),
    );
  }
  return lines.join("\r\n") + "\r\n";
}
