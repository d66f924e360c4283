// Forwarding's state machine, the archive's (lib/archive/state.ts) with other names: a forward of
// one study to one destination goes queued → sending → verified, or failed with a reason and the
// time of the next attempt (1 min doubling to 6 h, 10 attempts). Which instances an attempt sends
// is decided from the delivery records: never twice the same instance to the same destination.
import { DEFAULT_ARCHIVE_RETRY, failureReason, jobDecision, nextAttemptAt, type RetryPolicy } from "@/lib/archive/state";

/** sent: delivered, but the receiver cannot be asked (no C-FIND / QIDO-RS); skipped: held before the destination was added and not backfilled. */
export const FORWARD_STATES = ["queued", "sending", "verified", "sent", "failed", "skipped"] as const;
export type ForwardStateName = (typeof FORWARD_STATES)[number];
export type DeliveryOutcome = "success" | "warning" | "failed" | "filtered";

export const DEFAULT_FORWARD_RETRY: RetryPolicy = DEFAULT_ARCHIVE_RETRY;
export { nextAttemptAt, failureReason, type RetryPolicy };

/** The job id of one attempt (unique per hand-off and attempt; BullMQ ids may not contain ':'). */
export function forwardJobId(forwardId: string, queuedAt: Date, attempt: number): string {
  return `forward-${forwardId}-${queuedAt.getTime()}-${attempt}`;
}

/** Forwards that are done (nothing to send until the study has new instances). */
export const FORWARD_DONE_STATES = ["verified", "sent", "skipped"] as const;
export function isDoneState(state: ForwardStateName): boolean {
  return (FORWARD_DONE_STATES as readonly string[]).includes(state);
}

/** start / resume / stale, as for the archive (a verified, sent or skipped forward is done, like an archived study). */
export function forwardJobDecision(row: { state: ForwardStateName; attempts: number; nextAttemptAt: Date | null }, attempt: number, now: Date) {
  const state = isDoneState(row.state) ? "archived" : (row.state as "queued" | "sending" | "failed");
  return jobDecision({ state, attempts: row.attempts, nextAttemptAt: row.nextAttemptAt }, attempt, now);
}

/** What the receiver answered to the post-send question "how many instances of this study do you hold?". */
export type PeerCount = { kind: "count"; count: number } | { kind: "unsupported"; message: string } | { kind: "error"; message: string };

/**
 * The outcome of the post-send verification. Fewer instances at the receiver than were delivered is
 * a failure with the numbers; more is verified (the receiver also holds instances from elsewhere);
 * a receiver that cannot be asked leaves the forward "sent, not verified"; a question that could not
 * be asked is a failure (the retry asks again and sends nothing twice).
 */
export function verificationOutcome(delivered: number, peer: PeerCount | null): { state: "verified" | "sent"; note: string } | { error: string } {
  const inst = (n: number) => `${n} instance${n === 1 ? "" : "s"}`;
  if (!peer) return { state: "verified", note: "nothing to send: the filter excluded every instance" };
  if (peer.kind === "unsupported") return { state: "sent", note: `sent, not verified: ${peer.message}` };
  if (peer.kind === "error") return { error: `Sent, but the verification failed: ${peer.message}. The retry asks again (nothing is sent twice).` };
  if (peer.count < delivered)
    return {
      error: `Verification failed: the receiver holds ${inst(peer.count)} of the study, ${delivered} were delivered. Check the receiver's storage and logs (it may have dropped or merged instances); the retry asks again.`,
    };
  return {
    state: "verified",
    note: peer.count === delivered ? `the receiver holds ${inst(peer.count)} of the study, as delivered` : `the receiver holds ${inst(peer.count)} of the study (${delivered} delivered by Atrium, the rest from elsewhere)`,
  };
}

/** Instances already delivered (or excluded by the filter) are not sent again; failed ones are. */
export function isFinal(outcome: DeliveryOutcome): boolean {
  return outcome !== "failed";
}

export interface PlannedInstance {
  sopInstanceUid: string;
}

/** Splits a study's instances into those to send now and those already done for this destination. */
export function planDelivery<T extends PlannedInstance>(instances: T[], recorded: ReadonlyMap<string, DeliveryOutcome>): { toSend: T[]; done: T[] } {
  const toSend: T[] = [];
  const done: T[] = [];
  const seen = new Set<string>();
  for (const i of instances) {
    // The same de-identified SOP Instance UID twice in a study (a re-sent instance): once.
    if (seen.has(i.sopInstanceUid)) continue;
    seen.add(i.sopInstanceUid);
    const r = recorded.get(i.sopInstanceUid);
    (r && isFinal(r) ? done : toSend).push(i);
  }
  return { toSend, done };
}

/** What a failed attempt says when instances failed: counts and the first reasons (no PHI: UIDs are de-identified, reasons come from peers' statuses). */
export function summarizeFailures(failures: { reason: string | null | undefined }[], total: number): string {
  const byReason = new Map<string, number>();
  for (const f of failures) {
    const r = f.reason ?? "no reason given";
    byReason.set(r, (byReason.get(r) ?? 0) + 1);
  }
  const top = [...byReason].sort((a, b) => b[1] - a[1]).slice(0, 3);
  const list = top.map(([r, n]) => `${n}× ${r}`).join("; ");
  return `${failures.length} of ${total} instances were not delivered: ${list}${byReason.size > 3 ? "; …" : ""}.`;
}
