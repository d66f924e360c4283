// The compute path's own SQL (server/pipelines/runs.ts: the jobs of a run inserted from one JSON
// parameter, a job's result recorded by recordJobResult (several at once by recordJobResults), the ready dispatch in sqlTransaction) on
// both databases Atrium runs on: PostgreSQL through the pg pool (prepared statements) and the
// embedded PGlite through Prisma. A run of a two-node pipeline (a per-scan node, then a fan-in over
// every scan) is run job by job with processComputeJob, and every row is read back with Prisma;
// a scan taken out of the archive after planning fails its job with the reason.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-job-sql-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-job-sql-${process.pid}-${randomBytes(3).toString("hex")}`;
// Room for every job this file queues in its project (the default limit is 8 running or queued).
process.env.ATRIUM_COMPUTE_PROJECT_LIMIT = "100";

const { createTestDatabase } = await import("../helpers/pg");
const { emptyQueuesAndDisconnect } = await import("../helpers/queues");
const { openDb } = await import("@/server/db");
const { migrate } = await import("@/lib/db/migrate");
const { seedSubject } = await import("../archive/seed");
const { registerTool, registerPipeline } = await import("@/server/pipelines/registry");
const { startPipelineRun, recordJobResult, recordJobResults } = await import("@/server/pipelines/runs");
const { processComputeJob, statementsOf } = await import("@/server/pipelines/job");
const { SAMPLES_DIR } = await import("@/lib/samples");
const sample = (f: string) => readFileSync(path.join(SAMPLES_DIR, f));
type PrismaClient = import("@/server/db/generated/client").PrismaClient;

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await emptyQueuesAndDisconnect(["compute"]);
  rmSync(dataDir, { recursive: true, force: true });
});

const TOOL = `kind: tool
id: count
version: "1"
command: [node, -e, "console.log(JSON.stringify({n: 1}))", "--", { input: dicom }]
inputs:
  - { id: dicom, type: dicom-series }
outputs:
  - { id: n, type: integer, find: { stdout: n } }
`;
const SUM = `kind: tool
id: sum
version: "1"
command: [node, -e, "const v=process.argv.slice(1).map(Number);console.log(JSON.stringify({total:v.reduce((a,b)=>a+b,0)}))", "--", { input: values }]
inputs:
  - { id: values, type: integer, list: true }
outputs:
  - { id: total, type: integer, find: { stdout: total } }
`;
const PIPELINE = `kind: pipeline
id: counted
version: 1
sources:
  s: { from: scans }
nodes:
  each: { tool: count, in: { dicom: s } }
  all: { tool: sum, in: { values: { from: each.n, collapse: experiment } } }
sinks:
  total: { from: all.total, value: total }
`;

async function runOn(prisma: PrismaClient, project: string) {
  await prisma.project.create({ data: { id: project, idLower: project.toLowerCase(), name: project } });
  const [exp] = await seedSubject(prisma, dataDir, project, "S1", [
    { label: "S1_E1", scans: [{ seriesNumber: 1, modality: "CT", instances: [sample("dwv__osirix-toutatix-100.dcm")] }, { seriesNumber: 2, modality: "CT", instances: [sample("highdicom__ct_image.dcm")] }] },
  ]);
  await registerTool(prisma, { kind: "project", projectId: project }, TOOL, null);
  await registerTool(prisma, { kind: "project", projectId: project }, SUM, null);
  await registerPipeline(prisma, { kind: "project", projectId: project }, PIPELINE, null);
  const before = Date.now();
  const run = await startPipelineRun(prisma, { projectId: project, pipeline: "counted", experimentIds: [exp!.id], startedBy: "cli" });
  const jobs = await prisma.pipelineJob.findMany({ where: { runId: run.id }, orderBy: { key: "asc" } });
  expect(jobs.map((j) => [j.node, j.state, j.after.length])).toEqual([
    ["all", "waiting", 2],
    ["each", "queued", 0],
    ["each", "queued", 0],
  ]);
  expect(jobs.every((j) => j.inputs && j.workDir.includes(run.id) && j.logPath.endsWith("log.txt") && j.command.length === 0)).toBe(true);
  // The per-scan jobs, then the fan-in the dispatcher queued once both had succeeded.
  for (const j of jobs.filter((j) => j.node === "each")) expect(await processComputeJob(prisma, j.id, 1)).toEqual({ state: "succeeded" });
  const all = jobs.find((j) => j.node === "all")!;
  expect((await prisma.pipelineJob.findUniqueOrThrow({ where: { id: all.id } })).state).toBe("queued");
  expect(await processComputeJob(prisma, all.id, 1)).toEqual({ state: "succeeded" });
  const done = await prisma.pipelineRun.findUniqueOrThrow({ where: { id: run.id }, include: { jobs: true } });
  expect(done.state).toBe("succeeded");
  for (const j of done.jobs) {
    expect(j.state).toBe("succeeded");
    expect(j.exitCode).toBe(0);
    expect(j.reason).toBeNull();
    // Timestamps are kept in UTC as Prisma keeps them: read back, they are this run's times.
    expect(j.endedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(j.endedAt!.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    expect(j.startedAt!.getTime()).toBeLessThanOrEqual(j.endedAt!.getTime());
    expect((j.provenance as { tool: { id: string } }).tool.id).toBe(j.node === "all" ? "sum" : "count");
  }
  expect(done.jobs.find((j) => j.node === "all")!.outputs).toEqual({ total: { value: 2 } });
  expect((await prisma.archiveValue.findFirstOrThrow({ where: { name: "total" } })).value).toBe(2);

  // A scan taken out of the archive after the run was planned: the claim finds no instances for it.
  const again = await startPipelineRun(prisma, { projectId: project, pipeline: "counted", experimentIds: [exp!.id], startedBy: "cli" });
  const gone = (await prisma.pipelineJob.findMany({ where: { runId: again.id, node: "each" }, orderBy: { key: "asc" } }))[0]!;
  const goneScan = (gone.inputs as { dicom: { items: { ref: { scanId: string } }[] } }).dicom.items[0]!.ref.scanId;
  await prisma.archiveInstance.deleteMany({ where: { scanId: goneScan } });
  expect(await processComputeJob(prisma, gone.id, 1)).toEqual({ state: "failed" });
  expect((await prisma.pipelineJob.findUniqueOrThrow({ where: { id: gone.id } })).reason).toBe(`Input scan ${goneScan} is no longer in the archive (or has no files); re-run the pipeline on the experiment as it is now.`);

  // A failure's reason, and fields set back to null, go through the same statement.
  await recordJobResult(prisma, all.id, { state: "failed", reason: "Exited with code 3", exitCode: 3, peakMemoryKb: null, endedAt: new Date(0) });
  const failed = await prisma.pipelineJob.findUniqueOrThrow({ where: { id: all.id } });
  expect([failed.state, failed.reason, failed.exitCode, failed.peakMemoryKb, failed.endedAt!.toISOString()]).toEqual(["failed", "Exited with code 3", 3, null, "1970-01-01T00:00:00.000Z"]);

  // Results of jobs that finished together, in one statement: each sets the fields it has (null too), keeps the others.
  const [e1, e2] = done.jobs.filter((j) => j.node === "each");
  await recordJobResults(prisma, [
    { jobId: e1!.id, data: { state: "failed", reason: "Killed.", exitCode: null, peakMemoryKb: 12, startedAt: new Date(1000), endedAt: new Date(2000), outputs: null } },
    { jobId: e2!.id, data: { state: "succeeded", reason: null, exitCode: 0, host: "h2", outputs: { n: { value: 7 } }, provenance: { tool: { id: "count" } }, reusedFromJobId: e1!.id } },
  ]);
  const r1 = await prisma.pipelineJob.findUniqueOrThrow({ where: { id: e1!.id } });
  const r2 = await prisma.pipelineJob.findUniqueOrThrow({ where: { id: e2!.id } });
  expect([r1.state, r1.reason, r1.exitCode, r1.peakMemoryKb, r1.startedAt!.toISOString(), r1.endedAt!.toISOString(), r1.outputs, r1.host, r1.cacheKey]).toEqual([
    "failed", "Killed.", null, 12, "1970-01-01T00:00:01.000Z", "1970-01-01T00:00:02.000Z", null, e1!.host, e1!.cacheKey,
  ]);
  expect([r2.state, r2.reason, r2.exitCode, r2.host, r2.outputs, r2.provenance, r2.reusedFromJobId, r2.endedAt!.getTime(), r2.inputHashes]).toEqual([
    "succeeded", null, 0, "h2", { n: { value: 7 } }, { tool: { id: "count" } }, e1!.id, e2!.endedAt!.getTime(), e2!.inputHashes,
  ]);
  expect(r1.updatedAt.getTime()).toBeGreaterThan(e1!.updatedAt.getTime());

  // Jobs run side by side: their claims, reuse lookups and submissions go in shared statements
  // (lib/db/coalesce.ts): three runs of a new tool version, six jobs at once; then two more runs'
  // jobs reuse theirs, found by shared lookups.
  await registerTool(prisma, { kind: "project", projectId: project }, TOOL.replace('version: "1"', 'version: "2"').replace("{n: 1}", "{n: 2}"), null);
  await registerPipeline(prisma, { kind: "project", projectId: project }, PIPELINE.replace("version: 1", "version: 2").replace("tool: count,", "tool: count, version: \"2\","), null);
  const [exp2] = await seedSubject(prisma, dataDir, project, "S2", [
    { label: "S2_E1", scans: [{ seriesNumber: 1, modality: "CT", instances: [sample("dwv__osirix-toutatix-100.dcm")] }, { seriesNumber: 2, modality: "CT", instances: [sample("highdicom__ct_image.dcm")] }] },
  ]);
  const side = [];
  for (let i = 0; i < 3; i++) side.push(await startPipelineRun(prisma, { projectId: project, pipeline: "counted", version: "2", experimentIds: [exp2!.id], startedBy: "cli" }));
  const eachOf = async (runIds: string[]) => prisma.pipelineJob.findMany({ where: { runId: { in: runIds }, node: "each" } });
  const sideJobs = await eachOf(side.map((r) => r.id));
  expect(sideJobs).toHaveLength(6);
  expect(await Promise.all(sideJobs.map((j) => processComputeJob(prisma, j.id, 1)))).toEqual(sideJobs.map(() => ({ state: "succeeded" })));
  for (const j of await eachOf(side.map((r) => r.id))) {
    expect([j.state, j.host, j.command.includes("console.log(JSON.stringify({n: 2}))"), j.cacheKey?.length, j.reusedFromJobId]).toEqual(["succeeded", expect.any(String), true, 64, null]);
    expect(Number(j.externalId)).toBeGreaterThan(0);
    expect(Object.keys((j.provenance as { inputHashes: Record<string, string> }).inputHashes)).toEqual(["in/dicom"]);
    expect(j.outputs).toEqual({ n: { value: 2 } });
  }
  // The lookups and submissions of several jobs in one statement each (a first one goes alone, the
  // ones that come while it is under way go together).
  const st = statementsOf(prisma);
  const [a, b] = sideJobs;
  const q = (j: { id: string; cacheKey: string | null }) => ({ id: j.id, cacheKey: j.cacheKey!, toolId: "count", toolVersion: "2" });
  const aDone = (await eachOf([a!.runId])).find((j) => j.id === a!.id)!;
  const bDone = (await eachOf([b!.runId])).find((j) => j.id === b!.id)!;
  const found = await Promise.all([st.reuse.add(q(aDone)), st.reuse.add(q(aDone)), st.reuse.add(q(bDone)), st.reuse.add({ ...q(aDone), cacheKey: "none" })]);
  // The same content address as a's: the other runs' jobs on the same scan (not a itself), latest first.
  const sameAsA = (await eachOf(side.map((r) => r.id))).filter((j) => j.cacheKey === aDone.cacheKey && j.id !== a!.id).sort((x, y) => y.endedAt!.getTime() - x.endedAt!.getTime());
  expect(found[0]!.map((e) => e.id)).toEqual(sameAsA.map((j) => j.id));
  expect(found[1]!.map((e) => e.id)).toEqual(sameAsA.map((j) => j.id));
  expect(found[2]!.every((e) => e.id !== b!.id && e.workDir && e.outputs)).toBe(true);
  expect(found[2]!).toHaveLength(2);
  expect(found[3]).toEqual([]);
  await Promise.all([a!, b!, sideJobs[2]!].map((j, i) => st.submitted.add({ id: j.id, externalId: `x${i}`, host: `h${i}`, command: ["c", String(i)], cacheKey: `k${i}`, provenance: { values: { i }, inputHashes: {} } })));
  const rec = await prisma.pipelineJob.findMany({ where: { id: { in: [a!.id, b!.id, sideJobs[2]!.id] } } });
  for (const [i, j] of [a!, b!, sideJobs[2]!].entries()) {
    const r = rec.find((x) => x.id === j.id)!;
    expect([r.externalId, r.host, r.command, r.cacheKey, r.provenance]).toEqual([`x${i}`, `h${i}`, ["c", String(i)], `k${i}`, { values: { i }, inputHashes: {} }]);
  }

  const later = [];
  for (let i = 0; i < 2; i++) later.push(await startPipelineRun(prisma, { projectId: project, pipeline: "counted", version: "2", experimentIds: [exp2!.id], startedBy: "cli" }));
  const laterJobs = await eachOf(later.map((r) => r.id));
  expect(await Promise.all(laterJobs.map((j) => processComputeJob(prisma, j.id, 1)))).toEqual(laterJobs.map(() => ({ state: "succeeded" })));
  for (const j of await eachOf(later.map((r) => r.id))) {
    expect(j.state).toBe("succeeded");
    // From a job of the side runs, or of the other later run that finished first.
    expect([...sideJobs, ...laterJobs].some((s) => s.id === j.reusedFromJobId && s.id !== j.id)).toBe(true);
  }

  // A tool whose binary is not on this host fails its job with that reason (every time: only "all there" is remembered).
  await registerTool(prisma, { kind: "project", projectId: project }, `${TOOL.replace("id: count", "id: needs")}requires: { binaries: [no-such-binary-atrium] }\n`, null);
  await registerPipeline(prisma, { kind: "project", projectId: project }, PIPELINE.replace("id: counted", "id: needing").replace("tool: count,", "tool: needs,"), null);
  for (let i = 0; i < 2; i++) {
    const needing = await startPipelineRun(prisma, { projectId: project, pipeline: "needing", experimentIds: [exp2!.id], startedBy: "cli" });
    const needJobs = await eachOf([needing.id]);
    expect(await Promise.all(needJobs.map((j) => processComputeJob(prisma, j.id, 1)))).toEqual(needJobs.map(() => ({ state: "failed" })));
    for (const j of await eachOf([needing.id])) expect(j.reason).toMatch(/^Not installed on .*: no-such-binary-atrium \(needed by tool needs\)/);
  }
}

describe("a run's jobs, results and dispatch in SQL", () => {
  let pg: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    pg = await createTestDatabase();
    cleanups.push(() => pg.drop());
  });

  it("on PostgreSQL (pg pool, prepared statements)", async () => {
    await runOn(pg.prisma, "SQLPG");
  });

  it("on the embedded PGlite (through Prisma)", async () => {
    const handle = await openDb(undefined);
    cleanups.push(() => handle.close());
    expect(handle.kind).toBe("pglite");
    await migrate(handle.sql);
    await runOn(handle.prisma, "SQLLITE");
  });
});
