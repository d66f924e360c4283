// A pipeline run started by a Study Governor "fastr" callback resolves that callback when it ends
// (as fastr's launcher did by returning): success when every job succeeded, failed otherwise.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { createPeople, createProjectFixture, type ProjectFixture } from "../helpers/fixtures";
import { emptyQueuesAndDisconnect } from "../helpers/queues";
import { setDbHandle } from "@/server/db";
import { finishRunIfDone } from "@/server/pipelines/runs";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let f: ProjectFixture;

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  f = await createProjectFixture(db.prisma, await createPeople(db.prisma), "GOVRUN", "private");
});
afterAll(async () => {
  await emptyQueuesAndDisconnect(["governor"]);
  setDbHandle(undefined);
  await db?.drop();
});

async function waitingExecutionAndRun(jobState: "succeeded" | "failed") {
  await db.prisma.governorCallbackExecution.update({ where: { id: f.governorExecutionId }, data: { function: "fastr", status: "waiting", result: "none", finished: null } });
  await db.prisma.pipelineJob.updateMany({ where: { runId: f.runningRunId }, data: { state: jobState, endedAt: new Date(), ...(jobState === "failed" ? { reason: "exit code 1" } : {}) } });
  await db.prisma.pipelineRun.update({ where: { id: f.runningRunId }, data: { state: "running", endedAt: null, startedBy: `governor:${f.governorExecutionId}` } });
}

it("a run whose jobs all succeeded resolves its callback as a success, with the run's id", async () => {
  await waitingExecutionAndRun("succeeded");
  expect(await finishRunIfDone(db.prisma, f.runningRunId)).toBe(true);
  const ex = await db.prisma.governorCallbackExecution.findUniqueOrThrow({ where: { id: f.governorExecutionId } });
  expect(ex).toMatchObject({ status: "finished", result: "success" });
  expect(ex.resultValues).toMatchObject({ run_id: f.runningRunId, run_state: "succeeded" });
});

it("a failed run resolves it as failed with the reason; a callback already resolved is left alone", async () => {
  await waitingExecutionAndRun("failed");
  expect(await finishRunIfDone(db.prisma, f.runningRunId)).toBe(true);
  const ex = await db.prisma.governorCallbackExecution.findUniqueOrThrow({ where: { id: f.governorExecutionId } });
  expect(ex).toMatchObject({ status: "finished", result: "failed" });
  expect(ex.resultLog).toContain("did not succeed");
  // Resolved already (e.g. by its wait timeout): the run still ends, the callback keeps its result.
  await db.prisma.pipelineRun.update({ where: { id: f.runningRunId }, data: { state: "running", endedAt: null } });
  await db.prisma.pipelineJob.updateMany({ where: { runId: f.runningRunId }, data: { state: "succeeded" } });
  expect(await finishRunIfDone(db.prisma, f.runningRunId)).toBe(true);
  expect((await db.prisma.governorCallbackExecution.findUniqueOrThrow({ where: { id: f.governorExecutionId } })).result).toBe("failed");
});
