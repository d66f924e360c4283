// Pipeline jobs through the whole compute path: a run of N jobs of a no-op tool (`true`, one per
// scan of one archived experiment) started with startPipelineRun, dispatched through the `compute`
// BullMQ queue, each job claimed in PostgreSQL, its scan staged from the archive's blob store,
// checksummed, run on the local executor, recorded, and the next jobs dispatched; against spawning
// the same N processes directly with the same executor concurrency (baseline, same run).
// Goal (issue #12): Atrium's jobs/s ≥ 0.5× the bare spawn.
//
// Run: npx tsx bench/pipelines-queue.ts [--jobs 1000] [--concurrency 2]
// Needs the test PostgreSQL (ATRIUM_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test) and Redis.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { jobs: { type: "string", default: "1000" }, concurrency: { type: "string", default: "2" } } });
const N = Number(values.jobs);
const C = Number(values.concurrency);
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-bench-queue-"));
process.env.ATRIUM_LOG_LEVEL ??= "error";
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-bench-queue-${process.pid}`;
process.env.ATRIUM_COMPUTE_LOCAL_CONCURRENCY = String(C);
process.env.ATRIUM_COMPUTE_PROJECT_LIMIT = String(Math.max(64, C * 8));

const { setDbHandle, sqlRows } = await import("../server/db");
const { openBenchDatabase } = await import("./bench-db");
const { archiveBlobStore } = await import("../lib/blob");
const { registerTool, registerPipeline } = await import("../server/pipelines/registry");
const { startPipelineRun } = await import("../server/pipelines/runs");
const { processCompute } = await import("../workers/compute");
const { Worker } = await import("bullmq");
const { createRedis } = await import("../server/redis");
const { getQueue, closeQueues, queuePrefix } = await import("../server/queues");
const { closeSharedRedis } = await import("../server/redis");

async function pool(n: number, c: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n) await fn(next++);
  }));
}
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
// The main thread's CPU alone (ms; /proc, 10 ms ticks): the event loop is what saturates, while
// the thread pool's file system calls run beside it.
const mainThreadCpu = () => {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
// The whole machine's busy CPU (ms): PostgreSQL, Redis, the spawn helper and the jobs' processes too.
const machineCpu = () => {
  const t = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return (t.reduce((a, b) => a + b, 0) - t[3]! - (t[4] ?? 0)) * 10;
};

// Baseline: the same N processes spawned directly, C at a time, from this process before it opens
// anything (after Atrium's run its larger heap makes every fork slower). Timed three times: a bare
// spawn's speed on this VM varies by half from one run to the next.
const bareMachineCpu: number[] = [];
async function bareSpawns(): Promise<number> {
  const m = machineCpu();
  const t = performance.now();
  await pool(N, C, () => new Promise<void>((resolve, reject) => spawn("true", [], { stdio: "ignore" }).on("exit", () => resolve()).on("error", reject)));
  bareMachineCpu.push(machineCpu() - m);
  return (performance.now() - t) / 1000;
}
const bareRuns = [await bareSpawns(), await bareSpawns(), await bareSpawns()];
let t0 = 0;

const h = await openBenchDatabase("queue");
setDbHandle(Promise.resolve(h));
const connection = createRedis();
let worker: { close(): Promise<void> } | undefined;
try {
  const p = h.prisma;
  const P = "BENCH";
  await p.project.create({ data: { id: P, idLower: "bench", name: "Bench" } });
  const subj = await p.archiveSubject.create({ data: { projectId: P, label: "S" } });
  const exp = await p.archiveExperiment.create({ data: { projectId: P, subjectId: subj.id, label: "S_E", studyInstanceUid: "2.25.1", modalities: ["CT"] } });
  const store = archiveBlobStore();
  for (let i = 0; i < N; i++) {
    const scan = await p.archiveScan.create({ data: { experimentId: exp.id, seriesInstanceUid: `2.25.1.${i}`, seriesNumber: i, modality: "CT", instanceCount: 1 } });
    const key = `${P}/2.25.1/2.25.1.${i}/2.25.1.${i}.1.dcm`;
    const put = await store.put(key, randomBytes(512));
    await p.archiveInstance.create({ data: { scanId: scan.id, sopInstanceUid: `2.25.1.${i}.1`, sopClassUid: "1.2.840.10008.5.1.4.1.1.2", transferSyntaxUid: "1.2.840.10008.1.2.1", blobKey: key, sizeBytes: BigInt(put.size), sha256: put.sha256 } });
  }
  await registerTool(p, { kind: "project", projectId: P }, `kind: tool\nid: noop\nversion: "1"\ncommand: ["true", "{dicom}"]\ninputs:\n  - { id: dicom, type: dicom-series }\n`, null);
  await registerPipeline(p, { kind: "project", projectId: P }, `kind: pipeline\nid: noop\nversion: 1\nsources: { s: { from: scans } }\nnodes:\n  n: { tool: noop, in: { dicom: s } }\n`, null);
  // As many jobs in hand as the compute worker takes (workers/index.ts); the executor still runs C processes at a time.
  const w = new Worker("compute", processCompute, { connection, prefix: queuePrefix(), concurrency: Number(process.env.ATRIUM_COMPUTE_WORKER_CONCURRENCY) || 32 });
  worker = w;
  await w.waitUntilReady();

  const c0 = cpu();
  const main0 = mainThreadCpu();
  const machine0 = machineCpu();
  t0 = performance.now();
  const run = await startPipelineRun(p, { projectId: P, pipeline: "noop", experimentIds: [exp.id], startedBy: "cli" });
  for (;;) {
    // Polled in SQL: the bench's own watching should cost the worker as little as it can.
    const [r] = await sqlRows<{ state: string }>(p, `SELECT state::text FROM "PipelineRun" WHERE id = $1`, [run.id], "bench.runState");
    if (r!.state !== "queued" && r!.state !== "running") break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const atriumS = (performance.now() - t0) / 1000;
  const cpuMs = cpu() - c0;
  const mainMs = mainThreadCpu() - main0;
  const machineMs = machineCpu() - machine0;
  const counts = await p.pipelineJob.groupBy({ by: ["state"], where: { runId: run.id }, _count: true });
  console.log(`jobs: ${counts.map((c) => `${c._count} ${c.state}`).join(", ")}`);
  // Where a job's time goes: waiting in the queue, its process (spawn to exit as the executor saw it), recording after.
  const [phases] = await p.$queryRaw<{ queued: number; process: number; record: number }[]>`
    SELECT avg(extract(epoch FROM ("startedAt" - "queuedAt")) * 1000)::float AS queued,
           avg(extract(epoch FROM ("endedAt" - "startedAt")) * 1000)::float AS process,
           avg(extract(epoch FROM ("updatedAt" - "endedAt")) * 1000)::float AS record
    FROM "PipelineJob" WHERE "runId" = ${run.id}`;
  console.log(`per job (mean): queued → process started ${phases!.queued.toFixed(1)} ms, process ${phases!.process.toFixed(1)} ms, process ended → recorded ${phases!.record.toFixed(1)} ms`);
  console.log(`Atrium (queue + database + staging + local executor, concurrency ${C}): ${N} jobs in ${atriumS.toFixed(1)} s = ${(N / atriumS).toFixed(1)} jobs/s; worker-process CPU ${(cpuMs / N).toFixed(1)} ms per job (its main thread ${(mainMs / N).toFixed(1)} ms)`);
  const bareS = [...bareRuns].sort((a, b) => a - b)[1]!;
  const fastestS = Math.min(...bareRuns);
  console.log(`baseline (bare spawn of \`true\`, concurrency ${C}, same run, 3 times): ${bareRuns.map((b) => `${(N / b).toFixed(0)}`).join(", ")} jobs/s; median ${N} in ${bareS.toFixed(1)} s = ${(N / bareS).toFixed(1)} jobs/s`);
  console.log(`machine CPU per job (all processes, ${os.cpus().length} cores): Atrium ${(machineMs / N).toFixed(1)} ms, bare spawn ${bareMachineCpu.map((m) => (m / N).toFixed(1)).join(", ")} ms`);
  console.log(`ratio: ${(bareS / atriumS).toFixed(2)}× the median bare spawn, ${(fastestS / atriumS).toFixed(2)}× the fastest (goal ≥ 0.5×)`);
} finally {
  await worker?.close();
  await getQueue("compute").obliterate({ force: true });
  await closeQueues();
  await connection.quit();
  await closeSharedRedis();
  await h.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
