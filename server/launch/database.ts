// Opens the process's database (PostgreSQL or embedded PGlite), applies pending migrations and
// installs it as the process-wide handle.
import { openDb, setDbHandle } from "@/server/db";
import { migrate } from "@/lib/db/migrate";
import { rekeyPatientHashes } from "@/server/deid/patient-keys";
import { childLog } from "@/lib/log";

const log = childLog("launch");

export async function openAndMigrate() {
  const handle = await openDb();
  const result = await migrate(handle.sql);
  if (result.applied.length) log.info({ applied: result.applied, backend: handle.kind }, "migrations applied");
  // The data step of the keyed patient hash (migration 20261204180000): needs ATRIUM_SECRET_KEY (or
  // NEXTAUTH_SECRET); without it each project is re-keyed on its first use instead.
  await rekeyPatientHashes(handle.prisma).catch((e: Error) => log.warn({ error: e.name, message: e.message.slice(0, 200) }, "patient hashes not re-keyed at start; each project is re-keyed on first use"));
  setDbHandle(Promise.resolve(handle));
  // Secrets sealed before they were bound to their row are sealed again for it (needs the key:
  // `atrium migrate` without one leaves them for the next start).
  const { resealLegacySecrets } = await import("@/server/secrets");
  await resealLegacySecrets(handle.prisma).catch((e: Error) => log.warn({ err: e.name }, "legacy sealed secrets not re-sealed now (no key?)"));
  return { handle, result };
}
