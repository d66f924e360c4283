// What the browser benchmarks share: the portal build (made when missing), a fresh database, a data
// directory, the real `atrium start` on them, and tidying all of it up afterwards.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openBenchDatabase } from "./bench-db";
import { buildIsCurrent, buildPortal } from "../server/launch/build";
import { startAtrium, type AtriumProcess } from "../tests/helpers/atrium-process";

export async function openBrowserBench(name: string) {
  if (!buildIsCurrent()) buildPortal();
  const db = await openBenchDatabase(name);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `atrium-bench-${name}-`));
  let app: AtriumProcess | null = null;
  return {
    db,
    dataDir,
    /** Starts Atrium on the bench's database and data directory (once the data is seeded). */
    async start(): Promise<AtriumProcess> {
      app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: `atrium-bench-${name}-${process.pid}`, ATRIUM_LOG_LEVEL: "error" });
      return app;
    },
    async close() {
      await app?.stop();
      await db.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
