// Applies lib/intake/priority to this process's background queues (de-identification, archive):
// paused while senders are being served (up to ATRIUM_DEID_YIELD_MS of continuous intake), one
// job at a time after that, full concurrency once intake is quiet. Jobs already running finish.
import type { Worker } from "bullmq";
import { readEnv } from "@/lib/config";
import { DEFAULT_PRIORITY, backgroundMode, type BackgroundMode, type PriorityConfig } from "@/lib/intake/priority";
import { intakeActivity } from "@/server/intake/activity";
import { childLog } from "@/lib/log";

const log = childLog("workers");

export function startSendersFirst(queues: Array<{ worker: Worker; concurrency: number }>, everyMs = 100): () => void {
  const cfg: PriorityConfig = { ...DEFAULT_PRIORITY, maxYieldMs: readEnv().ATRIUM_DEID_YIELD_MS };
  let mode: BackgroundMode = "run";
  // Reconciled with each worker's actual state on every tick, so that a pause or resume that
  // failed (Redis restarting) is tried again instead of leaving the queue stopped.
  const apply = () => {
    const next = backgroundMode(intakeActivity(), Date.now(), cfg);
    if (next !== mode) log.debug({ from: mode, to: next }, "background work priority");
    mode = next;
    for (const { worker, concurrency: full } of queues) {
      if (next === "yield") {
        if (!worker.isPaused()) worker.pause(true).catch((e: Error) => log.warn({ queue: worker.name, error: e.name }, "could not pause"));
        continue;
      }
      const concurrency = next === "share" ? 1 : full;
      if (worker.concurrency !== concurrency) worker.concurrency = concurrency;
      if (worker.isPaused()) worker.resume().catch((e: Error) => log.warn({ queue: worker.name, error: e.name }, "could not resume"));
    }
  };
  const timer = setInterval(apply, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
