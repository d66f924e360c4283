// Governor figures (issue #16): evaluations per second with 10,000 experiments in flight, and the
// progress board's query p95 at that size (goal ≤ 50 ms). Each evaluation takes an experiment one
// step: a → b (creating its callback execution; jobs collected, not queued) — the heaviest kind —
// and a second pass evaluates experiments that wait (no transition). Baseline in the same run: a
// bare primary-key SELECT of a GovernorExperiment on the same pool.
//
// Run: npx tsx bench/governor.ts [--experiments 10000] [--evaluations 1000] [--concurrency 8]
// Needs the test PostgreSQL (ATRIUM_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test).
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { experiments: { type: "string", default: "10000" }, evaluations: { type: "string", default: "1000" }, concurrency: { type: "string", default: "8" } } });
const N = Number(values.experiments);
const E = Math.min(Number(values.evaluations), N);
const C = Number(values.concurrency);
process.env.ATRIUM_LOG_LEVEL ??= "error";

const { openBenchDatabase } = await import("./bench-db");
const { importWorkflowYaml } = await import("../lib/governor");
const { installWorkflow, evaluateExperiment } = await import("../server/governor/engine");
const { board } = await import("../server/governor/views");

const FLOW = `label: bench_flow
states:
  - {label: a, transitions: [{destination: b, condition: "experiment.archived and experiment.scans[0].modality == 'MR'"}]}
  - label: b
    callbacks: [{label: qc, function: sleep, wait_timeout: 60, callback_arguments: {seconds: 0}}]
    transitions: [{destination: c, condition: "callbacks['qc'].result == 'success'"}, {destination: d}]
  - {label: c}
  - {label: d}
`;

const h = await openBenchDatabase("governor");
const pct = (a: number[], x: number) => [...a].sort((m, n) => m - n)[Math.min(a.length - 1, Math.floor(a.length * x))]!;
try {
  const p = h.prisma;
  const P = "BENCH";
  await p.project.create({ data: { id: P, idLower: "bench", name: "Bench" } });
  const subj = await p.archiveSubject.create({ data: { projectId: P, label: "S" } });
  const wf = await installWorkflow(p, P, importWorkflowYaml(FLOW), null);
  // N experiments in flight, all in state a (revision 1, one action each), inserted in SQL (setup, not measured).
  await h.sql.exec(`INSERT INTO "ArchiveExperiment" (id, "projectId", "subjectId", label, "studyInstanceUid", modalities, "updatedAt")
    SELECT 'e' || g, '${P}', '${subj.id}', 'E' || g, '2.25.' || g, ARRAY['MR'], now() FROM generate_series(1, ${N}) g`);
  await h.sql.exec(`INSERT INTO "ArchiveScan" (id, "experimentId", "seriesInstanceUid", modality, "seriesDescription", "instanceCount", "seriesNumber")
    SELECT 's' || g, 'e' || g, '2.25.' || g || '.1', 'MR', 'T1 MPRAGE', 176, 1 FROM generate_series(1, ${N}) g`);
  await h.sql.exec(`INSERT INTO "GovernorExperiment" (id, "projectId", "experimentId", "workflowId", state, revision, "stateSince", "updatedAt")
    SELECT 'g' || g, '${P}', 'e' || g, '${wf.id}', 'a', 1, now() - (g || ' seconds')::interval, now() FROM generate_series(1, ${N}) g`);
  await h.sql.exec(`INSERT INTO "GovernorAction" (id, "govExperimentId", revision, "toState", cause, success)
    SELECT 'a' || g, 'g' || g, 1, 'a', 'bench', true FROM generate_series(1, ${N}) g`);
  await h.sql.exec(`ANALYZE`);

  const collect = { evaluate: async () => undefined, run: async () => undefined };
  const ids = Array.from({ length: E }, (_, i) => `g${i + 1}`);
  const run = async (label: string) => {
    const lat: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: C }, async () => {
        for (;;) {
          const i = next++;
          if (i >= ids.length) return;
          const s = performance.now();
          await evaluateExperiment(p, ids[i]!, { scheduler: collect });
          lat.push(performance.now() - s);
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    console.log(`${label}: ${E} evaluations with ${C} concurrent workers over ${N} experiments in flight: ${(E / secs).toFixed(0)} evaluations/s; p50 ${pct(lat, 0.5).toFixed(1)} ms, p95 ${pct(lat, 0.95).toFixed(1)} ms`);
  };
  await run("transition a → b (creates the callback execution)");
  const inB = await p.governorExperiment.count({ where: { state: "b" } });
  if (inB !== E) throw new Error(`expected ${E} experiments in b, found ${inB}`);
  await run("waiting in b (callback unresolved: no transition)");

  const lat: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < 60; i++) {
    const s = performance.now();
    const b = await board(p, P, { perState: 25 });
    if (i >= 10) lat.push(performance.now() - s);
    if (b.total !== N) throw new Error(`board total ${b.total}`);
    const t = performance.now();
    await p.governorExperiment.findUnique({ where: { id: `g${i + 1}` }, select: { id: true } });
    if (i >= 10) base.push(performance.now() - t);
  }
  console.log(`board (counts per state + 25 cards per column) with ${N} experiments: p50 ${pct(lat, 0.5).toFixed(1)} ms, p95 ${pct(lat, 0.95).toFixed(1)} ms (goal p95 ≤ 50 ms)`);
  console.log(`baseline (primary-key SELECT of one governed experiment, same pool, same run): p50 ${pct(base, 0.5).toFixed(2)} ms, p95 ${pct(base, 0.95).toFixed(2)} ms`);
} finally {
  await h.drop();
}
