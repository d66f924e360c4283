// The compute dispatcher (server/pipelines/runs.ts dispatchProject) on PostgreSQL and the real
// compute queue: the per-project limit holds, jobs are queued in run and job order, a fan-in job
// waits for every upstream job, a job's result is recorded in the dispatcher's transaction, a
// failure skips its dependents (transitively) with the reason, and the run ends when nothing is left.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

process.env.ATRIUM_QUEUE_PREFIX = `atrium-dispatch-${process.pid}-${randomBytes(3).toString("hex")}`;
process.env.ATRIUM_COMPUTE_PROJECT_LIMIT = "2";

const { createTestDatabase } = await import("../helpers/pg");
const { emptyQueuesAndDisconnect } = await import("../helpers/queues");
const { dispatchProject, bullJobId } = await import("@/server/pipelines/runs");
const { getQueue } = await import("@/server/queues");

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const P = "DISPATCH";
let runId = "";
const ids: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Dispatch" } });
  const pipeline = await db.prisma.pipeline.create({ data: { scope: P, projectId: P, pipelineId: "p", version: "1", definition: {}, sourceText: "", toolVersions: {} } });
  const run = await db.prisma.pipelineRun.create({ data: { projectId: P, pipelineRowId: pipeline.id, pipelineId: "p", pipelineVersion: "1", experimentIds: [], startedBy: "cli", executor: "local", workDir: "/tmp/none", state: "running" } });
  runId = run.id;
  // a1..a4 need nothing; b gathers a1 and a2 (fan-in); c needs b.
  const jobs: [string, string[]][] = [["a1", []], ["a2", []], ["a3", []], ["a4", []], ["b", ["a1", "a2"]], ["c", ["b"]]];
  for (const [key, after] of jobs) {
    const j = await db.prisma.pipelineJob.create({ data: { runId, key, node: key[0]!, sample: "run", level: "run", toolId: "t", toolVersion: "1", after, executor: "local", workDir: "/tmp/none", logPath: "/tmp/none/log", inputs: {} } });
    ids[key] = j.id;
  }
});

afterAll(async () => {
  await emptyQueuesAndDisconnect(["compute"]);
  await db?.drop();
});

const states = async () => Object.fromEntries((await db.prisma.pipelineJob.findMany({ where: { runId }, select: { key: true, state: true } })).map((j) => [j.key, j.state]));
const finish = (key: string, state: "succeeded" | "failed") =>
  dispatchProject(db.prisma, P, { finished: { jobId: ids[key]!, runId, data: { state, endedAt: new Date(), ...(state === "failed" ? { reason: "Exited with code 1" } : {}) } }, mode: state === "succeeded" ? "ready" : "full" });
const take = async (key: string) => {
  // What a worker does when it takes the job from the queue.
  expect(await getQueue("compute").getJob(bullJobId(ids[key]!, 1)), `${key} in the queue`).toBeTruthy();
  await db.prisma.pipelineJob.update({ where: { id: ids[key] }, data: { state: "running" } });
};

describe("dispatching a project's jobs", () => {
  it("queues up to the project's limit, in order; a fan-in waits for all its inputs; failures skip their dependents", async () => {
    await dispatchProject(db.prisma, P);
    expect(await states()).toMatchObject({ a1: "queued", a2: "queued", a3: "waiting", a4: "waiting", b: "waiting", c: "waiting" });
    await take("a1");
    await take("a2");
    // a1 succeeded: its result is recorded, one slot frees, a3 goes (b still waits for a2).
    await finish("a1", "succeeded");
    expect(await states()).toMatchObject({ a1: "succeeded", a2: "running", a3: "queued", a4: "waiting", b: "waiting" });
    await take("a3");
    // a2 failed: b and (through it) c are skipped with the reason; a4 takes the slot.
    await finish("a2", "failed");
    const rows = await db.prisma.pipelineJob.findMany({ where: { runId }, orderBy: { key: "asc" } });
    const by = Object.fromEntries(rows.map((r) => [r.key, r]));
    expect(by.b).toMatchObject({ state: "skipped", reason: "Not run: upstream job a2 failed." });
    expect(by.c).toMatchObject({ state: "skipped", reason: "Not run: upstream job b skipped." });
    expect(by.a4!.state).toBe("queued");
    await take("a4");
    await finish("a3", "succeeded");
    expect((await db.prisma.pipelineRun.findUniqueOrThrow({ where: { id: runId } })).state).toBe("running");
    await finish("a4", "succeeded");
    const run = await db.prisma.pipelineRun.findUniqueOrThrow({ where: { id: runId } });
    expect(run.state).toBe("failed");
    expect(run.error).toMatch(/3 of 6 jobs did not succeed; first: a2: Exited with code 1/);
  });
});
