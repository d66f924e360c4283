// Portal at scale (issue #21), in the browser: time to content of the Quarantine and Archive tabs
// with 100,000 rows each (goal ≤ 1 s warm) — from navigation to the first page of rows shown with
// its "of 100,000" count, in Debian's Chromium against the real `atrium start` (production build).
// Baseline in the same run: the project's Overview tab (no list) loaded the same way.
//
// Run: npx tsx bench/portal-lists-browser.ts [--rows 100000] [--rounds 5]
// Needs the test PostgreSQL and Redis, the portal build (made when missing) and /usr/bin/chromium.
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { rows: { type: "string", default: "100000" }, rounds: { type: "string", default: "5" } } });
const N = Number(values.rows);
const ROUNDS = Number(values.rounds);
process.env.ATRIUM_LOG_LEVEL ??= "error";

const { seedPortalRows } = await import("./portal-rows");
const { pct } = await import("./bench-db");
const { openBrowserBench } = await import("./browser-bench");
const { devSignIn, launchChromium } = await import("../tests/helpers/browser");

const bench = await openBrowserBench("portal-browser");
const h = bench.db;
const P = "BENCH";
try {
  await h.sql.exec(`INSERT INTO "User" (id, email, name) VALUES ('owner1', 'owner@bench.invalid', 'Owner')`);
  await h.prisma.project.create({ data: { id: P, idLower: "bench", name: "Bench", members: { create: { userId: "owner1", role: "owner" } } } });
  await seedPortalRows(h.sql, P, N);

  const app = await bench.start();
  // Warm means settled: the seeded queued studies have been handed to the archive worker (with no
  // target here they fail at once) and the tables are vacuumed, so no background work runs while
  // pages are timed.
  const settleStart = performance.now();
  for (let i = 0; i < 240; i++) {
    const [{ n }] = await h.sql.query<{ n: string }>(`SELECT count(*) AS n FROM "StudyArchive" WHERE state IN ('queued', 'sending', 'verifying')`);
    if (Number(n) === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  for (const t of ["ReceivedInstance", "IntakeStudy", "StudyArchive"]) await h.sql.exec(`VACUUM (ANALYZE) "${t}"`);
  console.log(`settled in ${((performance.now() - settleStart) / 1000).toFixed(1)} s (queued studies handed to the worker, tables vacuumed)`);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await devSignIn(page, app.url, "owner@bench.invalid", "Owner");
    const count = N.toLocaleString("en-US");
    const measure = async (tab: string, shown: () => Promise<unknown>) => {
      const out: number[] = [];
      for (let i = 0; i < ROUNDS + 1; i++) {
        const t0 = performance.now();
        await page.goto(`${app.url}/projects/${P}?tab=${tab}`);
        await shown();
        if (i > 0) out.push(performance.now() - t0); // the first load is the cold one
      }
      return out;
    };
    const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} ms · max ${Math.max(...xs).toFixed(0)} ms`;
    const overview = await measure("overview", () => page.getByText("Overview").first().waitFor());
    const quarantine = await measure("quarantine", () => page.getByTestId("quarantine-count").getByText(`of ${count} instances`).waitFor({ timeout: 30_000 }));
    const archive = await measure("archive", async () => {
      await page.getByTestId("archive-count").getByText(new RegExp(`of ${count}`)).waitFor({ timeout: 30_000 });
      await page.locator('[data-testid^="archive-row-"]').first().waitFor();
    });
    console.log(`time to content, warm, ${ROUNDS} loads each, ${count} rows (goal ≤ 1 s):`);
    console.log(`  Quarantine tab (first 100 rows, "of ${count} instances"): ${fmt(quarantine)}`);
    console.log(`  Archive tab (first page, "of ${count}"):                  ${fmt(archive)}`);
    console.log(`  baseline: Overview tab (no list), same run:               ${fmt(overview)}`);
  } finally {
    await browser.close();
  }
} finally {
  await bench.close();
}
