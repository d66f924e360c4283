// Issue #13 "a job's … log streaming live while the job runs (tail, follow, download whole)": the
// stream (its tail, then each append and the state change, ending after the job ends; multi-byte
// characters never cut), over the tRPC subscription, and the whole log as a file from the route —
// for the roles that may read runs (collaborators and up), not for others.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, type People, type ProjectFixture } from "../helpers/fixtures";
import { setDbHandle } from "@/server/db";
import { createSession, SESSION_COOKIE } from "@/server/auth/session";
import { followJobLog, readLogFrom, type LogEvent } from "@/server/pipelines/read";

const route = (await import(path.resolve("app/api/projects/[projectId]/jobs/[jobId]/log/route.ts"))) as { GET: (req: Request, ctx: { params: Promise<{ projectId: string; jobId: string }> }) => Promise<Response> };

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let f: ProjectFixture;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-job-log-"));
const logPath = path.join(dir, "log.txt");

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  f = await createProjectFixture(db.prisma, people, "JOBLOG", "private");
  fs.writeFileSync(logPath, "x".repeat(70 * 1024) + "\nconverting series 1\n");
  await db.prisma.pipelineJob.update({ where: { id: f.pipelineJobId }, data: { logPath, state: "running" } });
});
afterAll(async () => {
  setDbHandle(undefined);
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("a job's log", () => {
  it("streams: the tail, each append, the state change, and ends after the job ended", async () => {
    const ac = new AbortController();
    const it = followJobLog(db.prisma, f.projectId, f.pipelineJobId, ac.signal, 50);
    const first = (await it.next()).value as LogEvent & { kind: "tail" };
    expect(first).toMatchObject({ kind: "tail", truncated: true, state: "running", offset: 70 * 1024 + 21 });
    expect(first.text.length).toBe(64 * 1024);
    expect(first.text.endsWith("converting series 1\n")).toBe(true);

    fs.appendFileSync(logPath, "dcm2niix: 176 slices\n");
    expect((await it.next()).value).toEqual({ kind: "append", text: "dcm2niix: 176 slices\n", offset: 70 * 1024 + 42 });
    fs.appendFileSync(logPath, "done\n");
    await db.prisma.pipelineJob.update({ where: { id: f.pipelineJobId }, data: { state: "succeeded" } });
    const rest: LogEvent[] = [];
    for await (const e of it) rest.push(e);
    expect(rest).toEqual([{ kind: "append", text: "done\n", offset: 70 * 1024 + 47 }, { kind: "state", state: "succeeded" }]);
  });

  it("never cuts a multi-byte character between two reads", async () => {
    const p = path.join(dir, "utf8.txt");
    fs.writeFileSync(p, "ab€cd");
    const a = await readLogFrom(p, 0, 3);
    expect(a).toEqual({ text: "ab", next: 2, size: 7 });
    expect(await readLogFrom(p, a.next, 3)).toEqual({ text: "€", next: 5, size: 7 });
    expect(await readLogFrom(path.join(dir, "none.txt"), 0)).toEqual({ text: "", next: 0, size: 0 });
  });

  it("the subscription gives the same stream to a collaborator and refuses an outsider", async () => {
    await db.prisma.pipelineJob.update({ where: { id: f.pipelineJobId }, data: { state: "failed" } });
    const collab = callerFor(db.prisma, people.sessions.collaborator);
    const events: LogEvent[] = [];
    for await (const e of (await collab.pipeline.jobLog({ projectId: f.projectId, jobId: f.pipelineJobId })) as AsyncIterable<LogEvent>) events.push(e);
    expect(events.map((e) => e.kind)).toEqual(["tail"]);
    expect(events[0]).toMatchObject({ state: "failed" });
    const outsider = callerFor(db.prisma, people.sessions.outsider);
    await expect(outsider.pipeline.jobLog({ projectId: f.projectId, jobId: f.pipelineJobId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    // An unknown job: the stream itself fails (a subscription's errors come with its events).
    const unknown = (await collab.pipeline.jobLog({ projectId: f.projectId, jobId: "nosuchjob" })) as AsyncIterable<LogEvent>;
    await expect((async () => { for await (const _ of unknown) void _; })()).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("downloads whole as a file for the roles that read runs", async () => {
    const get = async (who: "collaborator" | "owner" | "outsider" | null, jobId = f.pipelineJobId) => {
      const headers = new Headers();
      if (who) headers.set("cookie", `${SESSION_COOKIE}=${(await createSession(db.prisma, people.users[who].id)).token}`);
      return route.GET(new Request(`http://atrium.test/api/projects/${f.projectId}/jobs/${jobId}/log`, { headers }), { params: Promise.resolve({ projectId: f.projectId, jobId }) });
    };
    const whole = fs.readFileSync(logPath, "utf8");
    for (const who of ["collaborator", "owner"] as const) {
      const r = await get(who);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-disposition")).toBe('attachment; filename="echo_x.log"');
      expect(await r.text()).toBe(whole);
    }
    expect((await get("outsider")).status).toBe(404);
    expect((await get(null)).status).toBe(401);
    expect((await get("owner", "nosuchjob")).status).toBe(404);
  });
});
