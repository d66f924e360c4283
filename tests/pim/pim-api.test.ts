// The PIM API v2 under /pim, driven with what fastr's reporter sends (tests/pim/fastr-reporter.ts),
// through the real route handlers and PostgreSQL, then read back as the portal reads it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, type People } from "../helpers/fixtures";
import { setDbHandle } from "@/server/db";
import { generateToken } from "@/lib/tokens";
import { batches, jobPath, registration, RUN_ID } from "./fastr-reporter";
import * as info from "@/app/pim/api/info/route";
import * as runs from "@/app/pim/api/runs/route";
import * as jobs from "@/app/pim/api/runs/[runId]/jobs/route";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let projectId: string;
const tokens = {} as Record<"report" | "stowOnly" | "otherProject", string>;

const basic = (token: string) => `Basic ${Buffer.from(`fastr:${token}`).toString("base64")}`;
const post = (body: unknown, authorization?: string) =>
  runs.POST(new Request("http://atrium.test/pim/api/runs/", { method: "POST", headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) }, body: typeof body === "string" ? body : JSON.stringify(body) }));
const put = (runId: string, body: unknown, authorization = basic(tokens.report)) =>
  jobs.PUT(new Request(`http://atrium.test/pim/api/runs/${runId}/jobs`, { method: "PUT", headers: { "content-type": "application/json", authorization }, body: typeof body === "string" ? body : JSON.stringify(body) }), {
    params: Promise.resolve({ runId }),
  });

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  projectId = (await createProjectFixture(db.prisma, people, "PIM1", "private")).projectId;
  const other = (await createProjectFixture(db.prisma, people, "PIM2", "private")).projectId;
  const mk = async (project: string, scopes: string[]) => {
    const t = generateToken();
    await db.prisma.projectApiToken.create({ data: { projectId: project, name: "fastr", prefix: t.prefix, tokenHash: t.tokenHash, scopes } });
    return t.token;
  };
  tokens.report = await mk(projectId, ["report"]);
  tokens.stowOnly = await mk(projectId, ["stow"]);
  tokens.otherProject = await mk(other, ["report"]);
});
afterAll(async () => {
  setDbHandle(undefined);
  await db?.drop();
});

describe("GET /pim/api/info", () => {
  it("answers version 2, which fastr's reporter requires before it reports", async () => {
    const r = info.GET();
    expect(r.status).toBe(200);
    expect((await r.json()).version).toBe(2);
  });
});

describe("a fastr run reported from outside", () => {
  it("refuses a registration without a token, with a token lacking the report scope, and one that is not a token", async () => {
    const none = await post(registration());
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Basic");
    expect((await none.json()).error).toContain("atrium token create");
    const stow = await post(registration(), `Bearer ${tokens.stowOnly}`);
    expect(stow.status).toBe(403);
    expect((await stow.json()).error).toContain('"report" scope');
    expect((await post(registration(), basic("hunter2"))).status).toBe(401);
    expect(await db.prisma.reportedRun.count({ where: { runName: RUN_ID } })).toBe(0);
  });

  it("registers the run with its graph (token as the Basic password, as pim_host's URL gives it)", async () => {
    const r = await post(registration(), basic(tokens.report));
    expect(r.status).toBe(201);
    const run = await db.prisma.reportedRun.findFirstOrThrow({ where: { runName: RUN_ID } });
    expect(run.projectId).toBe(projectId);
    expect(run.network).toBe("add");
    expect(run.state).toBe("registered");
    const graph = run.graph as { nodes: { path: string; type: string }[]; links: { from: string; to: string }[] };
    expect(graph.nodes.map((n) => [n.path, n.type])).toEqual([
      ["root/numbers", "SourceNodeRun"],
      ["root/add", "NodeRun"],
      ["root/out", "SinkNodeRun"],
    ]);
    expect(graph.links).toEqual([
      { from: "root/numbers/output", to: "root/add/left", dataType: "Int" },
      { from: "root/add/result", to: "root/out/input", dataType: "Int" },
    ]);
  });

  it("a re-sent identical registration is accepted; a different network under the same id is a 409", async () => {
    expect((await post(registration(), `Bearer ${tokens.report}`)).status).toBe(200);
    const changed = registration();
    changed.root.children.pop();
    const r = await post(changed, `Bearer ${tokens.report}`);
    expect(r.status).toBe(409);
    expect((await r.json()).error).toContain("already registered");
  });

  it("malformed registrations get a 400 that says where", async () => {
    const r = await post({ ...registration("other"), statusTypes: [] }, `Bearer ${tokens.report}`);
    expect(r.status).toBe(400);
    expect((await r.json()).error).toMatch(/statusTypes/);
    const notJson = await post("{nope", `Bearer ${tokens.report}`);
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error).toContain("not JSON");
  });

  it("job updates move jobs through their states; the run ends failed with a one-line reason", async () => {
    const caller = callerFor(db.prisma, people.sessions.collaborator);
    const id = (await db.prisma.reportedRun.findFirstOrThrow({ where: { runName: RUN_ID } })).id;
    const all = batches();
    expect((await put(RUN_ID, all[0])).status).toBe(200);
    expect((await caller.reportedRuns.get({ projectId, runId: id })).state).toBe("running");
    expect((await put(RUN_ID, all[1])).status).toBe(200);
    let view = await caller.reportedRuns.get({ projectId, runId: id });
    expect(view.graph.nodes.find((n) => n.path === "root/numbers")!.jobs).toEqual({ success: 2 });
    expect(view.graph.nodes.find((n) => n.path === "root/add")!.jobs).toEqual({ running: 2 });
    expect((await put(RUN_ID, all[2])).status).toBe(200);
    expect((await put(RUN_ID, all[3])).status).toBe(200);
    view = await caller.reportedRuns.get({ projectId, runId: id });
    expect(view.state).toBe("failed");
    expect(view.finishedAt).not.toBeNull();
    expect(view.failure).toBe("add (sample s2): FastrExecutionError: AddInt exited with 1");
    expect(view.graph.nodes.map((n) => [n.path, n.jobs])).toEqual([
      ["root/numbers", { success: 2 }],
      ["root/add", { success: 1, failed: 1 }],
      ["root/out", { success: 1, cancelled: 1 }],
    ]);
    expect(view.log.map((l) => [l.level, l.message])).toEqual([
      ["INFO", "Running network via fastr"],
      ["WARNING", "Job add___s2 failed"],
      ["INFO", "Network run finished"],
    ]);
    const failed = await caller.reportedRuns.job({ projectId, runId: id, path: jobPath("add", "s2") });
    expect(failed.state).toBe("failed");
    expect(failed.stderr).toContain("right operand missing");
    expect(failed.details).toMatchObject({ returncode: 1, command: ["python", "addint.py", "--left", "2"], tool_name: "AddInt" });
    expect(failed.startedAt).not.toBeNull();
    const list = await caller.reportedRuns.list({ projectId, search: "add_" });
    expect(list.items).toHaveLength(1);
    expect(list.items[0]).toMatchObject({ runName: RUN_ID, origin: "external", state: "failed", jobs: { success: 4, failed: 1, cancelled: 1 } });
  });

  it("a re-sent or late update cannot un-finish a job; a bad batch is refused whole and changes nothing", async () => {
    const id = (await db.prisma.reportedRun.findFirstOrThrow({ where: { runName: RUN_ID } })).id;
    const before = await db.prisma.reportedJob.findMany({ where: { runId: id }, orderBy: { path: "asc" } });
    const late = await put(RUN_ID, [{ path: jobPath("add", "s1"), status: 1, customData: {} }]);
    expect(late.status).toBe(200);
    expect((await late.json()).ignoredRegressions).toBe(1);
    const bad = await put(RUN_ID, [
      { path: jobPath("out", "s2"), status: 2 },
      { path: jobPath("add", "s1"), status: 9 },
      { path: "elsewhere/x/y", status: 1 },
    ]);
    expect(bad.status).toBe(422);
    const body = await bad.json();
    expect(body.error).toContain("nothing was stored");
    expect(body.problems.map((p: { index: number }) => p.index)).toEqual([1, 2]);
    const after = await db.prisma.reportedJob.findMany({ where: { runId: id }, orderBy: { path: "asc" } });
    expect(after.map((j) => [j.path, j.status])).toEqual(before.map((j) => [j.path, j.status]));
    expect((await put(RUN_ID, "[{")).status).toBe(400);
    expect((await put(RUN_ID, { path: "root/master" })).status).toBe(400);
  });

  it("updates for an unregistered run are a 404; another project's token cannot see or touch the run", async () => {
    const r = await put("no_such_run", batches()[0]);
    expect(r.status).toBe(404);
    expect((await r.json()).error).toContain("registers a run");
    expect((await put(RUN_ID, batches()[0], basic(tokens.otherProject))).status).toBe(404);
    const outsider = callerFor(db.prisma, people.sessions.outsider);
    await expect(outsider.reportedRuns.list({ projectId })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
