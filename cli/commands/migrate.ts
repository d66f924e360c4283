import { parseArgs } from "node:util";

export const summary = "Apply pending database migrations (PostgreSQL from DATABASE_URL, or the embedded PGlite).";

export async function run(args: string[]) {
  const { values } = parseArgs({ args, options: { help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log("Usage: atrium migrate\n\nApplies prisma/migrations to DATABASE_URL, or to the embedded database under ATRIUM_DATA_DIR.");
    return 0;
  }
  const { openAndMigrate } = await import("@/server/launch/database");
  const { handle, result } = await openAndMigrate();
  console.log(
    result.applied.length
      ? `Applied ${result.applied.length} migration(s) to ${handle.kind}: ${result.applied.join(", ")}`
      : `Database (${handle.kind}) is up to date: ${result.alreadyApplied} migration(s) applied earlier.`,
  );
  await handle.close();
  return 0;
}
