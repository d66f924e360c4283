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

const { seedPortalRows } = await import("./portal-rows");
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
  await seedPortalRows(h.sql, P, N);
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
