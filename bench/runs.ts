// Runs monitoring figures (issue #13): with 10,000 runs / 100,000 jobs in history and 100 running,
// the runs list and run page queries (p50/p95, goal p95 ≤ 50 ms), and applying a PIM job-update
// batch of 100 (what fastr's reporter sends every 2.5 s). Baseline in the same run: a bare
// primary-key SELECT on the same pool.
//
// Run: npx tsx bench/runs.ts [--runs 10000] [--jobs-per-run 10] [--rounds 200]
// Needs the test PostgreSQL (ATRIUM_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test).
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10000" }, "jobs-per-run": { type: "string", default: "10" }, rounds: { type: "string", default: "200" } } });
const RUNS = Number(values.runs);
const JOBS = Number(values["jobs-per-run"]);
const ROUNDS = Number(values.rounds);
process.env.ATRIUM_LOG_LEVEL ??= "error";

const { openBenchDatabase, timeRuns, fmtPercentiles } = await import("./bench-db");
const { listReportedRuns, getReportedRun } = await import("../server/pim/read");
const { applyJobUpdates, registerRun } = await import("../server/pim/store");
const { registration } = await import("../tests/pim/fastr-reporter");

const h = await openBenchDatabase("runs");

const time = timeRuns;
const fmt = fmtPercentiles;

try {
  const p = h.prisma;
  const P = "BENCH";
  await p.project.create({ data: { id: P, idLower: "bench", name: "Bench" } });
  const graph = JSON.stringify({ nodes: [{ path: "root/numbers", name: "numbers", title: "numbers", type: "SourceNodeRun", parent: null, inPorts: [], outPorts: [] }, { path: "root/add", name: "add", title: "add", type: "NodeRun", parent: null, inPorts: [], outPorts: [] }], links: [{ from: "root/numbers/output", to: "root/add/left", dataType: "Int" }] });
  const t0 = performance.now();
  // History in SQL (setup, not measured): RUNS runs, the newest 100 running, JOBS jobs each.
  await h.sql.exec(`INSERT INTO "ReportedRun" (id, "projectId", "runName", network, graph, "statusTitles", "customData", state, "registeredAt", "updatedAt", "finishedAt")
    SELECT 'r' || g, '${P}', 'run_' || g, 'add', '${graph}'::jsonb, ARRAY['idle','running','success','failed','cancelled','undefined'], '{}'::jsonb,
      CASE WHEN g > ${RUNS} - 100 THEN 'running' WHEN g % 10 = 0 THEN 'failed' ELSE 'success' END,
      now() - ((${RUNS} - g) || ' minutes')::interval, now(), CASE WHEN g > ${RUNS} - 100 THEN NULL ELSE now() END
    FROM generate_series(1, ${RUNS}) g`);
  await h.sql.exec(`INSERT INTO "ReportedJob" (id, "runId", path, "nodePath", status, "customData", log, "startedAt", "finishedAt", "updatedAt")
    SELECT 'j' || g || '_' || k, 'r' || g, 'root/add/add___add___s' || k, 'root/add',
      CASE WHEN g > ${RUNS} - 100 AND k > ${JOBS} / 2 THEN 1 WHEN g % 10 = 0 AND k = 1 THEN 3 ELSE 2 END,
      jsonb_build_object('sample_id', jsonb_build_array('s' || k)), '{}'::jsonb, now(), now(), now()
    FROM generate_series(1, ${RUNS}) g, generate_series(1, ${JOBS}) k`);
  await h.sql.exec(`ANALYZE "ReportedRun"; ANALYZE "ReportedJob"`);
  console.log(`setup: ${RUNS.toLocaleString()} runs, ${(RUNS * JOBS).toLocaleString()} jobs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const base = await time(ROUNDS, (i) => p.reportedRun.findUnique({ where: { id: `r${1 + (i % RUNS)}` }, select: { id: true } }));
  const list = await time(ROUNDS, () => listReportedRuns(p, { projectId: P, limit: 50 }));
  const listFailed = await time(ROUNDS, () => listReportedRuns(p, { projectId: P, state: "failed", limit: 50 }));
  const page = await time(ROUNDS, (i) => getReportedRun(p, P, `r${RUNS - (i % 100)}`));

  await registerRun(p, P, null, registration("bench_live"));
  const batchOf = (i: number) =>
    Array.from({ length: 100 }, (_, k) => ({ path: `root/add/add___add___b${i}_${k}`, status: 1, customData: { sample_id: [`b${i}_${k}`], sample_index: [k] } }));
  const apply = await time(Math.min(ROUNDS, 50), (i) => applyJobUpdates(p, P, "bench_live", batchOf(i)));

  console.log(`baseline: primary-key SELECT            ${fmt(base)}`);
  console.log(`runs list (newest 50, job counts)      ${fmt(list)}   goal p95 ≤ 50 ms`);
  console.log(`runs list filtered (failed)            ${fmt(listFailed)}   goal p95 ≤ 50 ms`);
  console.log(`run page (graph, per-node counts, jobs) ${fmt(page)}   goal p95 ≤ 50 ms`);
  console.log(`PIM batch of 100 job updates            ${fmt(apply)}   (fastr sends one per 2.5 s)`);
} finally {
  await h.drop();
}
