import { parseArgs } from "node:util";
import { readEnv } from "@/lib/config";
import { openAndMigrate } from "@/server/launch/database";
import { onShutdown } from "@/server/launch/shutdown";
import { startWorkers } from "@/workers";

export const summary = "Start only the workers (scale out: run as many as you like against one PostgreSQL and Redis).";

export async function run(args: string[]) {
  const { values } = parseArgs({ args, options: { help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log("Usage: atrium worker\n\nStarts the BullMQ workers. Needs DATABASE_URL (PostgreSQL) and REDIS_URL.\nSIGTERM lets running jobs finish, then exits.");
    return 0;
  }
  const env = readEnv();
  if (!env.DATABASE_URL) {
    console.error(
      "atrium worker: set DATABASE_URL to a PostgreSQL database. The embedded database serves one process only; with it, `atrium start` runs the workers itself.",
    );
    return 2;
  }
  await openAndMigrate();
  const workers = await startWorkers();
  console.log(`atrium worker: running (${workers.workers.length} queue(s)); SIGTERM to stop gracefully`);
  onShutdown(() => workers.close());
  return new Promise<number>(() => undefined);
}
