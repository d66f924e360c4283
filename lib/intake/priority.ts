// Senders first: while instances are arriving, background work (de-identification, archiving)
// steps back so that the cores go to receiving, recording and acknowledging (a scanner waits for
// each C-STORE response; the backlog does not wait for anyone). It yields entirely for a burst of
// up to `maxYieldMs`, then shares (one job at a time) until the senders are quiet, so that a long
// transfer (a PACS migration) cannot starve it. Pure logic; workers/senders-first applies it.

export type BackgroundMode = "run" | "yield" | "share";

export interface PriorityConfig {
  /** Intake counts as active while the last instance arrived less than this ago. */
  quietMs: number;
  /** Longest continuous yield; 0 disables yielding (background work always runs). */
  maxYieldMs: number;
}

export const DEFAULT_PRIORITY: PriorityConfig = { quietMs: 1_000, maxYieldMs: 30_000 };

export interface IntakeActivity {
  /** When the last instance was received (ms since epoch), null if never. */
  lastReceivedAt: number | null;
  /** Start of the current run of activity (ms since epoch), null if none yet. */
  activeSince: number | null;
}

/** Records an instance received at `now`; a gap longer than quietMs starts a new run of activity. */
export function noteReceived(a: IntakeActivity, now: number, cfg: PriorityConfig = DEFAULT_PRIORITY): void {
  if (a.activeSince === null || a.lastReceivedAt === null || now - a.lastReceivedAt >= cfg.quietMs) a.activeSince = now;
  a.lastReceivedAt = now;
}

export function backgroundMode(a: IntakeActivity, now: number, cfg: PriorityConfig = DEFAULT_PRIORITY): BackgroundMode {
  if (cfg.maxYieldMs <= 0 || a.lastReceivedAt === null || a.activeSince === null || now - a.lastReceivedAt >= cfg.quietMs) return "run";
  return now - a.activeSince < cfg.maxYieldMs ? "yield" : "share";
}
