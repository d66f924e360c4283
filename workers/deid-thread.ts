// Entry of the de-identification worker threads (a BullMQ sandboxed processor). De-identification
// is CPU work; in threads it no longer holds up the event loop where the DICOM listener answers
// senders. Each thread opens its own PostgreSQL connection (server/db, from DATABASE_URL). The
// compiled CLI loads this module compiled (.build/cli/…/deid-thread.mjs); from the sources,
// deid-thread.mjs loads it through tsx.
import { readlinkSync } from "node:fs";
import os from "node:os";
import { processDeid } from "./deid";

// Senders wait for their acknowledgement; de-identification can wait for a core. On Linux a
// thread has its own nice value: lower this thread's priority (ATRIUM_DEID_NICE, default 10) so
// that the listener's event loop and PostgreSQL are served first when both cores are busy.
const nice = Number(process.env.ATRIUM_DEID_NICE ?? 10);
if (process.platform === "linux" && Number.isInteger(nice) && nice > 0) {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    os.setPriority(tid, Math.min(nice, 19));
  } catch {
    // Not permitted or no /proc: run at the process's priority.
  }
}

export default processDeid;
