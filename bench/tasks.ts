// Task Supervisor figures (issue #14): "start next" latency with 100,000 queued tasks and 50
// concurrent readers (goal p95 ≤ 30 ms), and bulk creation of 10,000 tasks from a project query
// (goal ≤ 10 s). Baseline in the same run: a bare SELECT 1 on the same pool under the same load.
//
// Run: npx tsx bench/tasks.ts [--tasks 100000] [--readers 50] [--bulk 10000]
// Needs the test PostgreSQL (ATRIUM_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test).
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { tasks: { type: "string", default: "100000" }, readers: { type: "string", default: "50" }, bulk: { type: "string", default: "10000" } } });
const N = Number(values.tasks);
const R = Number(values.readers);
const BULK = Number(values.bulk);
process.env.ATRIUM_LOG_LEVEL ??= "error";

const { sqlRows } = await import("../server/db");
const { openBenchDatabase } = await import("./bench-db");
const { saveTemplate, createGroup, startNext } = await import("../server/tasks/ops");
const { DEMO_QC_TEMPLATE } = await import("../lib/tasks/demo");

const h = await openBenchDatabase("tasks");
try {
  const p = h.prisma;
  const P = "BENCH";
  const owner = (await p.user.create({ data: { email: "owner@bench.invalid" } })).id;
  const readers: string[] = [];
  for (let i = 0; i < R; i++) readers.push((await p.user.create({ data: { email: `r${i}@bench.invalid` } })).id);
  await p.project.create({ data: { id: P, idLower: "bench", name: "Bench", members: { create: [{ userId: owner, role: "owner" }, ...readers.map((userId) => ({ userId, role: "member" as const }))] } } });
  const subj = await p.archiveSubject.create({ data: { projectId: P, label: "S" } });
  const nExp = Math.max(N, BULK);
  // Experiments with one T1 scan each, inserted in SQL (setup, not measured).
  await h.sql.exec(`INSERT INTO "ArchiveExperiment" (id, "projectId", "subjectId", label, "studyInstanceUid", modalities, "updatedAt")
    SELECT 'e' || g, '${P}', '${subj.id}', 'E' || g, '2.25.' || g, ARRAY['MR'], now() FROM generate_series(1, ${nExp}) g`);
  await h.sql.exec(`INSERT INTO "ArchiveScan" (id, "experimentId", "seriesInstanceUid", modality, "seriesDescription", "instanceCount", "seriesNumber")
    SELECT 's' || g, 'e' || g, '2.25.' || g || '.1', 'MR', 'T1 MPRAGE', 176, 1 FROM generate_series(1, ${nExp}) g`);
  const t = await saveTemplate(p, P, owner, "qc", DEMO_QC_TEMPLATE);

  // Bulk creation from a query (only the first BULK experiments: labelContains can't slice, so a separate project-less count).
  let t0 = performance.now();
  const bulk = await createGroup(p, P, owner, { label: "bulk", templateId: t.templateId, experimentIds: Array.from({ length: BULK }, (_, i) => `e${i + 1}`), readersPerCase: 1, distribution: "pool", pool: [] });
  const bulkMs = performance.now() - t0;
  t0 = performance.now();
  const q = await createGroup(p, P, owner, { label: "query", templateId: t.templateId, query: { modality: "MR" }, readersPerCase: 1, distribution: "pool", pool: [] });
  const queryMs = performance.now() - t0;
  console.log(`bulk creation: ${bulk.tasks} tasks from experiment ids in ${(bulkMs / 1000).toFixed(2)} s; ${q.tasks} tasks from a project query (modality MR) in ${(queryMs / 1000).toFixed(2)} s (goal: 10,000 ≤ 10 s)`);

  // Start next: R readers, each taking tasks in a loop on its own connection pool share.
  const group = q.groupId;
  const lat: number[] = [];
  const base: number[] = [];
  const perReader = 40;
  await Promise.all(
    readers.map(async (r) => {
      for (let i = 0; i < perReader; i++) {
        const s = performance.now();
        const got = await startNext(p, group, r);
        lat.push(performance.now() - s);
        if (!got) throw new Error("ran out of tasks");
        const b = performance.now();
        await sqlRows(p, `SELECT 1`, []);
        base.push(performance.now() - b);
      }
    }),
  );
  const pct = (a: number[], x: number) => [...a].sort((m, n) => m - n)[Math.min(a.length - 1, Math.floor(a.length * x))]!;
  const total = await p.task.count({ where: { groupId: group } });
  console.log(`start next: ${lat.length} calls by ${R} concurrent readers over ${total} tasks: p50 ${pct(lat, 0.5).toFixed(1)} ms, p95 ${pct(lat, 0.95).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms (goal p95 ≤ 30 ms)`);
  console.log(`baseline (SELECT 1 on the same connection pool, same load, same run): p50 ${pct(base, 0.5).toFixed(2)} ms, p95 ${pct(base, 0.95).toFixed(2)} ms`);
} finally {
  await h.drop();
}
