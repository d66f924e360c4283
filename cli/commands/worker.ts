import { parseArgs } from "node:util";

export const summary = "Start only the workers (scale out: run as many as you like against one PostgreSQL and Redis).";

export async function run(args: string[]) {
  const { values } = parseArgs({ args, options: { help: { type: "boolean", short: "h" }, "no-queues": { type: "boolean" } } });
  if (values.help) {
    console.log("Usage: atrium worker [--no-queues]\n\n--no-queues  only the DICOM listener (a dedicated receiver); no jobs are processed\n\nStarts the BullMQ workers and the DICOM listener (ATRIUM_DICOM_PORT, default 11112; 0: off;\ngive each worker on one machine its own port, or 0). Needs DATABASE_URL (PostgreSQL) and REDIS_URL.\nSIGTERM lets running jobs finish, then exits.");
    return 0;
  }
  const { dataDir, readEnv } = await import("@/lib/config");
  const env = readEnv();
  if (!env.DATABASE_URL) {
    console.error(
      "atrium worker: set DATABASE_URL to a PostgreSQL database. The embedded database serves one process only; with it, `atrium start` runs the workers itself.",
    );
    return 2;
  }
  if (!env.ATRIUM_SECRET_KEY && !env.NEXTAUTH_SECRET) {
    console.error(
      "atrium worker: set ATRIUM_SECRET_KEY (or NEXTAUTH_SECRET), the same as the portal's: de-identification keys patients with per-project secrets sealed with it, and webhook and archive credentials are sealed with it.",
    );
    return 2;
  }
  // Loaded here, not at the top: `atrium --help` loads every command's module (see cli/main.ts).
  const [{ startDicomListener }, { openAndMigrate }, { onShutdown }, { startWorkers }] = await Promise.all([
    import("@/server/intake/dicom-listener"),
    import("@/server/launch/database"),
    import("@/server/launch/shutdown"),
    import("@/workers"),
  ]);
  const { handle } = await openAndMigrate();
  const workers = values["no-queues"] ? null : await startWorkers();
  const dicom = env.ATRIUM_DICOM_PORT
    ? await startDicomListener({ prisma: handle.prisma, dataDir: dataDir(env), port: env.ATRIUM_DICOM_PORT })
    : null;
  console.log(`atrium worker: running (${workers ? `${workers.workers.length} queue(s)` : "no queues"}; DICOM: ${dicom ? `port ${dicom.port}` : "off"}); SIGTERM to stop gracefully`);
  onShutdown(async () => {
    await dicom?.close();
    await workers?.close();
  });
  return new Promise<number>(() => undefined);
}
