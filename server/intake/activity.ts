// This process's intake activity (lib/intake/priority): every way in notes each recorded instance,
// and this process's background workers (workers/senders-first) read it.
import type { IntakeActivity } from "@/lib/intake/priority";
import { noteReceived } from "@/lib/intake/priority";

const key = Symbol.for("atrium.intake-activity");
type G = typeof globalThis & { [key]?: IntakeActivity };

export function intakeActivity(): IntakeActivity {
  const g = globalThis as G;
  return (g[key] ??= { lastReceivedAt: null, activeSince: null });
}

export function noteInstanceReceived(now = Date.now()): void {
  noteReceived(intakeActivity(), now);
}
