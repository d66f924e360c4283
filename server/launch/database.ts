// Opens the process's database (PostgreSQL or embedded PGlite), applies pending migrations and
// installs it as the process-wide handle.
import { openDb, setDbHandle } from "@/server/db";
import { migrate } from "@/lib/db/migrate";
import { childLog } from "@/lib/log";

const log = childLog("launch");

export async function openAndMigrate() {
  const handle = await openDb();
  const result = await migrate(handle.sql);
  if (result.applied.length) log.info({ applied: result.applied, backend: handle.kind }, "migrations applied");
  setDbHandle(Promise.resolve(handle));
  return { handle, result };
}
