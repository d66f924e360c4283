// Pipeline runs through the real compute queue worker (startWorkers, real Redis and PostgreSQL) on
// an archived experiment made from the shared samples, with the local executor: dicom-stats writes
// a NIfTI resource per scan and the statistics as values into the archive with provenance; a second
// identical run reuses every job; a cancel kills the running process; re-run failed runs only the
// failed jobs.
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from "node:fs";
import { randomBytes, createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-compute-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-compute-${process.pid}-${randomBytes(3).toString("hex")}`;

const { createTestDatabase } = await import("../helpers/pg");
const { setDbHandle } = await import("@/server/db");
const { startWorkers } = await import("@/workers");
const { emptyQueuesAndDisconnect } = await import("../helpers/queues");
const { seedSubject, blobStoreIn } = await import("../archive/seed");
const { SAMPLES_DIR } = await import("@/lib/samples");
const { registerExamples, registerTool, registerPipeline, PipelineRegistryError } = await import("@/server/pipelines/registry");
const { startPipelineRun, cancelRun, rerunFailed, PipelineRunError } = await import("@/server/pipelines/runs");
const { runProvenance } = await import("@/server/pipelines/read");
const { processAlive } = await import("@/lib/process");

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let workers: Awaited<ReturnType<typeof startWorkers>>;
const P = "COMPUTE";
let experimentId = "";
let scanIds: string[] = [];

const sample = (f: string) => readFileSync(path.join(SAMPLES_DIR, f));

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Compute" } });
  const [exp] = await seedSubject(db.prisma, dataDir, P, "SUBJ1", [
    {
      label: "SUBJ1_E1",
      scans: [
        { seriesNumber: 1, modality: "CT", instances: ["dwv__osirix-toutatix-100.dcm", "dwv__osirix-toutatix-101.dcm"].map(sample) },
        { seriesNumber: 2, modality: "CT", instances: [sample("highdicom__ct_image.dcm")] },
      ],
    },
  ]);
  experimentId = exp!.id;
  scanIds = exp!.scans.map((s) => s.id);
  await registerExamples(db.prisma, P);
  workers = await startWorkers();
}, 60_000);

afterAll(async () => {
  await workers?.close(5_000);
  await emptyQueuesAndDisconnect(["compute", "deid", "intake-stability", "archive", "forward", "health", "webhook-pull"]);
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function waitForRun(runId: string, timeoutMs = 120_000) {
  const t0 = Date.now();
  for (;;) {
    const run = await db.prisma.pipelineRun.findUniqueOrThrow({ where: { id: runId }, include: { jobs: true } });
    if (!["queued", "running"].includes(run.state)) return run;
    if (Date.now() - t0 > timeoutMs) throw new Error(`run still ${run.state}: ${run.jobs.map((j) => `${j.key}=${j.state}`).join(", ")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("compute worker", () => {
  it("dicom-stats on an archived experiment: NIfTI resources and statistics values in the archive, with provenance", async () => {
    const run = await startPipelineRun(db.prisma, { projectId: P, pipeline: "dicom-stats", experimentIds: [experimentId], startedBy: "user:test" });
    const done = await waitForRun(run.id);
    for (const j of done.jobs) expect(j.state, `${j.key}: ${j.reason}`).toBe("succeeded");
    expect(done.state).toBe("succeeded");
    expect(done.jobs).toHaveLength(4);
    const convert = done.jobs.filter((j) => j.node === "convert");
    for (const j of convert) {
      expect(j.command[0]).toBe("dcm2niix");
      expect(j.externalId).toMatch(/^\d+$/);
      expect(existsSync(j.logPath)).toBe(true);
      expect(j.startedAt && j.endedAt).toBeTruthy();
    }
    // Resources: one NIfTI per scan, its bytes in the archive's store, its checksum the job's output checksum.
    const resources = await db.prisma.archiveResource.findMany({ where: { experimentId, name: "NIFTI" } });
    expect(resources.map((r) => r.scanId).sort()).toEqual([...scanIds].sort());
    for (const r of resources) {
      const [f] = r.files as { name: string; blobKey: string; sha256: string }[];
      const bytes = readFileSync(blobStoreIn(dataDir).localPath(f!.blobKey)!);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(f!.sha256);
      const job = convert.find((j) => j.id === r.jobId)!;
      expect(Object.values(job.outputHashes as Record<string, string>)).toContain(f!.sha256);
    }
    const values = await db.prisma.archiveValue.findMany({ where: { experimentId, name: "voxels" } });
    expect(values).toHaveLength(2);
    for (const v of values) expect(v.value as number).toBeGreaterThan(1000);
    // Provenance: per job, and the run's PROV-JSON.
    const stats = done.jobs.find((j) => j.node === "stats")!;
    const prov = stats.provenance as { tool: { id: string; version: string }; inputs: Record<string, string>; run: string };
    expect(prov.tool).toEqual({ id: "nifti-stats", version: "1.0" });
    expect(prov.run).toBe(run.id);
    expect(Object.values(prov.inputs)[0]).toMatch(/^[0-9a-f]{64}$/);
    const doc = await runProvenance(db.prisma, P, run.id);
    expect(Object.keys(doc.activity)).toContain(`atrium:job/${stats.id}`);
    expect(Object.keys(doc.wasGeneratedBy).length).toBeGreaterThanOrEqual(2);
  }, 180_000);

  it("the same run again reuses every job (same tool version and input checksums), and says so", async () => {
    const run = await startPipelineRun(db.prisma, { projectId: P, pipeline: "dicom-stats", experimentIds: [experimentId], startedBy: "user:test" });
    const done = await waitForRun(run.id);
    expect(done.state).toBe("succeeded");
    for (const j of done.jobs) {
      expect(j.reusedFromJobId, j.key).toBeTruthy();
      expect(j.externalId).toBeNull();
      expect(readFileSync(j.logPath, "utf8")).toMatch(/Reused the outputs of job/);
    }
    expect(await db.prisma.archiveValue.count({ where: { experimentId, name: "voxels" } })).toBe(2);
  }, 120_000);

  it("cancel kills the running jobs and cancels the rest", async () => {
    await registerTool(db.prisma, { kind: "project", projectId: P }, `kind: tool\nid: sleeper\nversion: "1"\ncommand: [sh, -c, "sleep 60", sleeper, "{dicom}"]\ninputs:\n  - { id: dicom, type: dicom-series }\n`, null);
    await registerPipeline(db.prisma, { kind: "project", projectId: P }, `kind: pipeline\nid: sleepy\nversion: 1\nsources: { series: { from: scans } }\nnodes:\n  nap: { tool: sleeper, in: { dicom: series } }\n`, null);
    const run = await startPipelineRun(db.prisma, { projectId: P, pipeline: "sleepy", experimentIds: [experimentId], startedBy: "user:test" });
    let pids: number[] = [];
    for (let i = 0; i < 200 && pids.length < 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pids = (await db.prisma.pipelineJob.findMany({ where: { runId: run.id, state: "running", externalId: { not: null } } })).map((j) => Number(j.externalId));
    }
    expect(pids.length).toBeGreaterThan(0);
    expect(pids.every(processAlive)).toBe(true);
    await cancelRun(db.prisma, P, run.id);
    const done = await waitForRun(run.id, 30_000);
    expect(done.state).toBe("cancelled");
    for (const j of done.jobs) expect(j.state).toBe("cancelled");
    expect(pids.some(processAlive)).toBe(false);
  }, 60_000);

  it("re-run failed runs only the failed jobs; a missing output is a clear reason", async () => {
    const flag = path.join(dataDir, "flag");
    await registerTool(db.prisma, { kind: "project", projectId: P }, `kind: tool\nid: flaky\nversion: "1"\ncommand: [sh, -c, "test -f ${flag} && echo '{\\"ok\\": 1}'", flaky, "{dicom}"]\ninputs:\n  - { id: dicom, type: dicom-series }\noutputs:\n  - { id: ok, type: integer, find: { stdout: ok } }\n`, null);
    await registerPipeline(db.prisma, { kind: "project", projectId: P }, `kind: pipeline\nid: flaky\nversion: 1\nsources: { series: { from: scans } }\nnodes:\n  try: { tool: flaky, in: { dicom: series } }\n`, null);
    const run = await startPipelineRun(db.prisma, { projectId: P, pipeline: "flaky", experimentIds: [experimentId], startedBy: "user:test" });
    const failed = await waitForRun(run.id);
    expect(failed.state).toBe("failed");
    expect(failed.error).toMatch(/2 of 2 jobs did not succeed/);
    expect(failed.jobs[0]!.reason).toMatch(/Exited with code 1/);
    writeFileSync(flag, "");
    expect(await rerunFailed(db.prisma, P, run.id)).toEqual({ rerun: 2 });
    const ok = await waitForRun(run.id);
    expect(ok.state).toBe("succeeded");
    for (const j of ok.jobs) expect(j.attempt).toBe(2);
    await expect(rerunFailed(db.prisma, P, run.id)).rejects.toThrow(/nothing to re-run/);
  }, 60_000);

  it("bad requests are refused with what to do", async () => {
    await expect(startPipelineRun(db.prisma, { projectId: P, pipeline: "nope", experimentIds: [experimentId], startedBy: "cli" })).rejects.toThrow(PipelineRegistryError);
    await expect(startPipelineRun(db.prisma, { projectId: P, pipeline: "dicom-stats", experimentIds: ["missing"], startedBy: "cli" })).rejects.toThrow(/Not in project COMPUTE's archive: experiment\(s\) missing/);
    await expect(startPipelineRun(db.prisma, { projectId: P, pipeline: "dicom-stats", experimentIds: [experimentId], startedBy: "cli", executor: "cloud" })).rejects.toThrow(PipelineRunError);
    await expect(registerPipeline(db.prisma, { kind: "project", projectId: P }, `kind: pipeline\nid: bad\nversion: 1\nnodes:\n  a: { tool: nosuch }\n`, null)).rejects.toMatchObject({ problems: [expect.objectContaining({ node: "a", line: 5 })] });
  });
});
