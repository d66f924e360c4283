// The archive state machine's rules, framework-free: when a failed attempt is retried, whether a
// job may still act on a study, what a failure says to a data manager, and how a de-identified
// instance's stored path names its series and SOP instance.
import path from "node:path";
import { XnatError } from "@/lib/xnat/errors";

export const ARCHIVE_STATES = ["queued", "sending", "verifying", "archived", "failed"] as const;
export type ArchiveStateName = (typeof ARCHIVE_STATES)[number];

export interface RetryPolicy {
  /** Delay after the first failed attempt. */
  baseDelayMs: number;
  /** Longest delay between attempts. */
  maxDelayMs: number;
  /** After this many failed attempts no retry is scheduled (an owner can still retry). */
  maxAttempts: number;
}

export const DEFAULT_ARCHIVE_RETRY: RetryPolicy = { baseDelayMs: 60_000, maxDelayMs: 6 * 3600_000, maxAttempts: 10 };

/** When the next attempt is due after `attempts` attempts failed; null when no automatic retry is left. */
export function nextAttemptAt(attempts: number, now: Date, policy: RetryPolicy = DEFAULT_ARCHIVE_RETRY): Date | null {
  if (attempts >= policy.maxAttempts) return null;
  const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  return new Date(now.getTime() + delay);
}

/** The job id of one attempt: unique per hand-off (queuedAt) and attempt, so each attempt is queued once. BullMQ ids may not contain ':'. */
export function archiveJobId(studyId: string, queuedAt: Date, attempt: number): string {
  return `archive-${studyId}-${queuedAt.getTime()}-${attempt}`;
}

export interface ArchiveRowState {
  state: ArchiveStateName;
  attempts: number;
  nextAttemptAt: Date | null;
}

/**
 * Whether a job for attempt `attempt` may run on a study in this state:
 * - "start": the attempt has not started (queued, or failed and due) and this is the next one;
 * - "resume": the attempt was started and not finished (a worker died, the job is run again);
 * - "stale": the job is from an earlier attempt or the study is archived: do nothing.
 */
export function jobDecision(row: ArchiveRowState, attempt: number, now: Date): "start" | "resume" | "stale" {
  if (row.state === "queued" && row.attempts === attempt - 1) return "start";
  if (row.state === "failed" && row.attempts === attempt - 1 && row.nextAttemptAt && row.nextAttemptAt.getTime() <= now.getTime() + 1_000) return "start";
  if ((row.state === "sending" || row.state === "verifying") && row.attempts === attempt) return "resume";
  return "stale";
}

/** The series and SOP Instance UIDs of a de-identified instance from its stored path (…/<study>/<series>/<sop>.dcm). */
export function uidsFromOutputPath(outputPath: string): { studyInstanceUid: string; seriesInstanceUid: string; sopInstanceUid: string } {
  const parts = outputPath.split(/[\\/]/);
  const file = parts[parts.length - 1] ?? "";
  const sop = path.basename(file, ".dcm");
  const series = parts[parts.length - 2] ?? "";
  const study = parts[parts.length - 3] ?? "";
  const uid = /^[0-9.]{1,64}$/;
  if (!uid.test(sop) || !uid.test(series) || !uid.test(study) || !file.endsWith(".dcm")) {
    throw new Error("A de-identified instance's stored path does not end in <study>/<series>/<sop>.dcm; it was not written by de-identification.");
  }
  return { studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: sop };
}

const MAX_ERROR = 1_000;

/** The reason shown for a failed attempt: the error's own message (drivers write actionable ones), shortened. */
export function failureReason(err: unknown): string {
  // An XNAT error's own message quotes what the server answered; people see only the status and advice.
  const msg = err instanceof XnatError ? err.publicMessage : err instanceof Error ? err.message : String(err);
  const text = msg.replace(/\s+/g, " ").replace(/\.\.(?=\s|$)/g, ".").trim() || "The archive attempt failed without a message.";
  return text.length > MAX_ERROR ? `${text.slice(0, MAX_ERROR - 1)}…` : text;
}
