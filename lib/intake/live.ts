// The intake page's live figures, computed from what the database holds (no extra counters):
// arrival rate over a window, and where a study is on its way from first instance to archive.

/** The window the live figures look back over. */
export const LIVE_WINDOW_SECONDS = 60;

/** Instances per second over the window, one decimal. */
export function ratePerSecond(count: number, windowSeconds = LIVE_WINDOW_SECONDS): number {
  return Math.round((count / windowSeconds) * 10) / 10;
}

export type StudyStatus = "receiving" | "stable" | "archiving" | "archived" | "failed";

/**
 * How far a study is, 0–100: receiving fills the first half as its quiet period runs out (it
 * becomes stable when no instance arrived for `stableAfterSeconds`), stable is 50, archiving 75,
 * archived 100. A failed study shows where it stopped (75).
 */
export function studyProgress(status: StudyStatus, lastInstanceAt: Date, now: Date, stableAfterSeconds: number): number {
  switch (status) {
    case "receiving": {
      const quiet = Math.max(0, (now.getTime() - lastInstanceAt.getTime()) / 1000);
      return Math.min(49, Math.round((50 * quiet) / Math.max(1, stableAfterSeconds)));
    }
    case "stable":
      return 50;
    case "archiving":
    case "failed":
      return 75;
    case "archived":
      return 100;
  }
}

/**
 * Whether de-identification is waiting for senders: instances are stored and wait for it while a
 * sender is still sending (intake gives senders priority during a burst, lib/intake/priority). The
 * intake page says so, with how many wait; null when nothing waits or nobody is sending.
 */
export function deidWaitingForSenders(s: { instances: { received: number }; live: { activeBatches: { batches: number }[] } }): { waiting: number; senders: number } | null {
  const senders = s.live.activeBatches.reduce((n, b) => n + b.batches, 0);
  if (!senders || s.instances.received <= 0) return null;
  return { waiting: s.instances.received, senders };
}
