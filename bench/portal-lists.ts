// Portal at scale (issue #21): the server's share of "time to content" of the Quarantine and Archive
// tabs with 100,000 rows each (goal ≤ 1 s warm) — the tRPC procedures the pages call, as an owner:
// the first page with its counts, a filtered page, and the next page by cursor. Baseline in the same
// run: a primary-key SELECT on the same pool.
//
// Run: npx tsx bench/portal-lists.ts [--rows 100000] [--rounds 30]
// Needs the test PostgreSQL (ATRIUM_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test).
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { rows: { type: "string", default: "100000" }, rounds: { type: "string", default: "30" } } });
const N = Number(values.rows);
const ROUNDS = Number(values.rounds);
process.env.ATRIUM_LOG_LEVEL ??= "error";

const { openBenchDatabase, timeRuns, fmtPercentiles } = await import("./bench-db");
const { appRouter } = await import("../server/routers");
const { createCallerFactory } = await import("../server/trpc/init");

const h = await openBenchDatabase("portal-lists");
const time = (f: () => Promise<unknown>) => timeRuns(ROUNDS, f, 3);
const fmt = fmtPercentiles;

try {
  const p = h.prisma;
  const P = "BENCH";
  const owner = await p.user.create({ data: { email: "owner@bench.invalid", name: "Owner" } });
  await p.project.create({ data: { id: P, idLower: "bench", name: "Bench", members: { create: { userId: owner.id, role: "owner" } } } });
  const t0 = performance.now();
  // N quarantined instances (five reasons, three ways in) and N studies in the archive (every state), in SQL.
  await h.sql.exec(`INSERT INTO "ReceivedInstance" (id, "projectId", channel, "batchId", "stagingPath", "sizeBytes", sha256, status, reason, "reasonCode", "receivedAt", "updatedAt")
    SELECT 'q' || g, '${P}', (ARRAY['cstore','stow','upload'])[1 + g % 3]::"IntakeChannel", 'b' || (g / 100), 'staging/q' || g, 1000 + g % 5000, md5(g::text) || md5(g::text),
           'quarantined', 'fixture reason', (ARRAY['not_dicom','no_route','deid_failed','parse_error','too_large'])[1 + g % 5], now() - (g || ' seconds')::interval, now()
      FROM generate_series(1, ${N}) g`);
  await h.sql.exec(`INSERT INTO "IntakeStudy" (id, "projectId", "studyInstanceUid", "subjectLabel", "instanceCount", status)
    SELECT 's' || g, '${P}', '2.25.' || g, 'SUBJ' || (g / 5), 10, 'archived' FROM generate_series(1, ${N}) g`);
  await h.sql.exec(`INSERT INTO "StudyArchive" ("studyId", "projectId", state, "queuedAt", "archivedAt", "archivedInstances", "updatedAt")
    SELECT 's' || g, '${P}', (CASE WHEN g % 50 = 0 THEN 'failed' WHEN g % 97 = 0 THEN 'queued' ELSE 'archived' END)::"ArchiveState", now() - (g || ' seconds')::interval, now(), 10, now()
      FROM generate_series(1, ${N}) g`);
  await h.sql.exec(`ANALYZE "ReceivedInstance"; ANALYZE "IntakeStudy"; ANALYZE "StudyArchive"`);
  console.log(`setup: ${N} quarantined instances and ${N} archive studies in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const caller = createCallerFactory(appRouter)({ prisma: p, user: { id: owner.id, email: owner.email, name: owner.name, siteAdmin: false } });
  const firstQ = await caller.intake.quarantine({ projectId: P });
  console.log(`quarantine first page: ${fmt(await time(() => caller.intake.quarantine({ projectId: P })))} (${firstQ.items?.length ?? "?"} rows of ${firstQ.total ?? "?"})`);
  console.log(`quarantine filtered (reason no_route, oldest first): ${fmt(await time(() => caller.intake.quarantine({ projectId: P, reasonCode: "no_route", sort: "oldest" })))}`);
  if (firstQ.nextCursor) console.log(`quarantine next page by cursor: ${fmt(await time(() => caller.intake.quarantine({ projectId: P, cursor: firstQ.nextCursor! })))}`);
  const firstA = await caller.archive.status({ projectId: P });
  console.log(`archive first page with counts: ${fmt(await time(() => caller.archive.status({ projectId: P })))} (${firstA.studies.length} rows of ${firstA.total})`);
  console.log(`archive filtered (failed): ${fmt(await time(() => caller.archive.status({ projectId: P, state: "failed" })))}`);
  if (firstA.nextCursor) console.log(`archive next page by cursor: ${fmt(await time(() => caller.archive.status({ projectId: P, cursor: firstA.nextCursor! })))}`);
  console.log(`baseline (primary-key SELECT of one instance, same pool, same run): ${fmt(await time(() => p.receivedInstance.findUnique({ where: { id: "q500" }, select: { id: true } })))}`);
  console.log("goal: time to content ≤ 1 s warm (these are the server's share; the page adds its render)");
} finally {
  await h.drop();
}
