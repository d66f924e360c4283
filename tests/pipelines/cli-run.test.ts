// `atrium run` and `atrium runs` against a running Atrium's operator routes (served over real HTTP,
// the compute worker in this process): seed-demo's registration of the examples, a run on every
// experiment followed with --wait --json, the runs listing, bad usage and refusals.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-cli-run-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-cli-run-${process.pid}-${randomBytes(3).toString("hex")}`;

const { createTestDatabase } = await import("../helpers/pg");
const { setDbHandle } = await import("@/server/db");
const { startWorkers } = await import("@/workers");
const { emptyQueuesAndDisconnect } = await import("../helpers/queues");
const { startRouteServer } = await import("../helpers/route-server");
const { seedSubject } = await import("../archive/seed");
const { SAMPLES_DIR } = await import("@/lib/samples");
const { ROOT } = await import("../helpers/atrium-process");
const { DEMO_PROJECT_ID } = await import("@/server/intake/demo");
const runsRoute = await import("@/app/api/internal/pipeline-runs/route");
const runRoute = await import("@/app/api/internal/pipeline-runs/[runId]/route");
const allRunsRoute = await import("@/app/api/internal/runs/route");
const seedRoute = await import("@/app/api/internal/seed-demo/route");
const { operatorToken } = await import("@/server/local/operator");

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let workers: Awaited<ReturnType<typeof startWorkers>>;
let server: Awaited<ReturnType<typeof startRouteServer>>;

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  server = await startRouteServer([
    { method: "POST", pattern: /^\/api\/internal\/pipeline-runs$/, handler: runsRoute.POST },
    { method: "GET", pattern: /^\/api\/internal\/pipeline-runs$/, handler: runsRoute.GET },
    { method: "GET", pattern: /^\/api\/internal\/runs$/, handler: allRunsRoute.GET },
    { method: "GET", pattern: /^\/api\/internal\/pipeline-runs\/(?<runId>[^/]+)$/, handler: runRoute.GET as never },
  ]);
  // seed-demo's route creates DEMO and registers the examples in it.
  const res = await seedRoute.POST(new Request("http://x/api/internal/seed-demo", { method: "POST", headers: { authorization: `Bearer ${operatorToken()}` }, body: "{}" }));
  expect(res.status).toBe(200);
  expect((await res.json()).pipelines).toEqual(["dicom-stats@1", "subject-summary@1"]);
  const sample = (f: string) => readFileSync(path.join(SAMPLES_DIR, f));
  await seedSubject(db.prisma, dataDir, DEMO_PROJECT_ID, "DEMO01", [{ label: "DEMO01_A", scans: [{ seriesNumber: 1, modality: "CT", instances: [sample("highdicom__ct_image.dcm")] }] }]);
  await seedSubject(db.prisma, dataDir, DEMO_PROJECT_ID, "DEMO02", [{ label: "DEMO02_A", scans: [{ seriesNumber: 3, modality: "CT", instances: ["dwv__osirix-toutatix-100.dcm", "dwv__osirix-toutatix-101.dcm"].map(sample) }] }]);
  workers = await startWorkers();
}, 60_000);

afterAll(async () => {
  await workers?.close(5_000);
  await server?.close();
  await emptyQueuesAndDisconnect(["compute", "deid", "intake-stability", "archive", "forward", "health", "webhook-pull"]);
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const atrium = (args: string[]) =>
  promisify(execFile)(process.execPath, [path.join(ROOT, "bin", "atrium.mjs"), ...args, "--url", server.url], { env: { ...process.env, ATRIUM_DATA_DIR: dataDir } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

it("atrium run --all --wait --json: one object with the run id, its state, job counts and results", async () => {
  const r = await atrium(["run", "--project", DEMO_PROJECT_ID, "--pipeline", "dicom-stats", "--all", "--wait", "--json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(out).toMatchObject({ state: "succeeded", jobs: { succeeded: 4 }, total: 4 });
  expect(out.runId).toMatch(/^r[0-9a-f]{24}$/);
  expect(out.results.values.filter((v: { name: string }) => v.name === "voxels")).toHaveLength(2);
  expect(out.results.resources.map((x: { name: string }) => x.name)).toEqual(["NIFTI", "NIFTI"]);
}, 180_000);

it("atrium run by experiment label prints the run id; atrium runs lists the runs", async () => {
  const r = await atrium(["run", "--project", DEMO_PROJECT_ID, "--pipeline", "subject-summary", "--experiment", "DEMO01_A"]);
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toMatch(/^r[0-9a-f]{24}$/);
  const list = await atrium(["runs", "--project", DEMO_PROJECT_ID]);
  expect(list.code).toBe(0);
  expect(list.stdout).toContain(r.stdout.trim());
  expect(list.stdout).toMatch(/dicom-stats@1\s+atrium\s+succeeded\s+4 succeeded/);
}, 60_000);

it("bad usage and refusals say what to do", async () => {
  const none = await atrium(["run", "--project", DEMO_PROJECT_ID, "--pipeline", "dicom-stats"]);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/--experiment: Choose experiments/);
  const unknown = await atrium(["run", "--project", DEMO_PROJECT_ID, "--pipeline", "nope", "--all"]);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/No pipeline "nope" .* Registered: dicom-stats, subject-summary/);
  const exec = await atrium(["run", "--project", DEMO_PROJECT_ID, "--pipeline", "dicom-stats", "--all", "--executor", "cloud"]);
  expect(exec.code).toBe(2);
  expect(exec.stderr).toMatch(/--executor \(local or slurm\)/);
  const noProject = await atrium(["runs", "--project", "NOPE"]);
  expect(noProject.code).toBe(2);
  expect(noProject.stderr).toMatch(/No project "NOPE"/);
});
