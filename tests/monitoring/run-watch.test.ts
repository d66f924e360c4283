// Issue #13 "Updates arrive live through tRPC subscriptions": a run's versions on real PostgreSQL
// (server/monitoring/run-watch.ts), for Atrium's runs and runs reported through /pim — a job's
// state change and a new job move the version, another project's run is not visible, a deleted run
// ends the stream.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { createPeople, createProjectFixture } from "../helpers/fixtures";
import { pipelineRunChanges, reportedRunChanges, RUN_WATCH_INTERVAL_MS } from "@/server/monitoring/run-watch";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let f: Awaited<ReturnType<typeof createProjectFixture>>;

beforeAll(async () => {
  db = await createTestDatabase();
  const people = await createPeople(db.prisma);
  f = await createProjectFixture(db.prisma, people, "WATCH", "private");
});
afterAll(async () => {
  await db?.drop();
});

/** The next value, or "none" when nothing came within `ms`. */
async function nextWithin<T>(gen: AsyncGenerator<T>, ms: number): Promise<T | "none"> {
  const timer = new Promise<"none">((r) => setTimeout(() => r("none"), ms));
  const next = gen.next().then((r) => (r.done ? ("none" as const) : r.value));
  return Promise.race([next, timer]);
}

describe("a run's changes", () => {
  it("an Atrium run: a job's state change moves the version; nothing moves it otherwise; a deleted run ends the stream", async () => {
    const ac = new AbortController();
    const changes = pipelineRunChanges(db.prisma, f.projectId, f.runningRunId, ac.signal);
    const first = await changes.next();
    expect(first.value!.version).toMatch(/^running\|/);
    // Nothing changes: nothing is pushed.
    const pending = changes.next();
    expect(await Promise.race([pending, new Promise((r) => setTimeout(() => r("quiet"), RUN_WATCH_INTERVAL_MS * 4))])).toBe("quiet");
    const job = await db.prisma.pipelineJob.findFirstOrThrow({ where: { runId: f.runningRunId } });
    await db.prisma.pipelineJob.update({ where: { id: job.id }, data: { state: "succeeded" } });
    const second = (await pending).value!;
    expect(second.version).not.toBe(first.value!.version);
    await db.prisma.pipelineRun.update({ where: { id: f.runningRunId }, data: { state: "succeeded" } });
    const third = (await changes.next()).value!;
    expect(third.version).toMatch(/^succeeded\|/);
    await db.prisma.pipelineRun.delete({ where: { id: f.runningRunId } });
    expect((await changes.next()).value).toEqual({ version: null });
    expect((await changes.next()).done).toBe(true);
    ac.abort();
  });

  it("a run of another project is not visible: its version is null at once", async () => {
    const changes = pipelineRunChanges(db.prisma, "NOT_THIS_ONE", f.failedRunId);
    expect((await changes.next()).value).toEqual({ version: null });
    expect((await changes.next()).done).toBe(true);
  });

  it("a reported run: a new job moves the version; aborting ends the stream", async () => {
    const ac = new AbortController();
    const changes = reportedRunChanges(db.prisma, f.projectId, f.reportedRunId, ac.signal);
    const first = (await changes.next()).value!;
    expect(first.version).not.toBeNull();
    await db.prisma.reportedJob.create({ data: { runId: f.reportedRunId, path: "root/n/fixture___n___s2", nodePath: "root/n", status: 1, customData: {}, log: {} } });
    const second = await nextWithin(changes, 5_000);
    expect(second).not.toBe("none");
    expect((second as { version: string }).version).not.toBe(first.version);
    ac.abort();
    expect(await nextWithin(changes, 2_000)).toBe("none");
  });
});
