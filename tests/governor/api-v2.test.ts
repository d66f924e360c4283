// Issue #16: Study Governor's REST API v2 over real HTTP (the route handlers served without the
// Next build) and real PostgreSQL, with the reference's payloads: a registered program receives
// $CALLBACK_EXECUTION and $CALLBACK_SECRET, the callback waits, and an external system resolves it
// with PUT {"status": "finished", "result": "success", "secret_key": …} (the runner's `secret`
// spelling too); a wrong secret is 403, a PUT after resolution 409; experiments' states read and
// set with a project token (404 unknown state, 409 no transition); tokens without the scope refused.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { setDbHandle } from "@/server/db";
import { startRouteServer, type RouteServer } from "../helpers/route-server";
import { importWorkflowYaml, type CallbackServices } from "@/lib/governor";
import { governExperiment, installWorkflow } from "@/server/governor/engine";
import { generateToken } from "@/lib/tokens";
import { testScheduler, writeProgram } from "./helpers";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let server: RouteServer;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-gov-api-"));
const P = "GOVAPI";
const tokens = {} as Record<"workflow" | "read" | "stow" | "other", string>;
let services: CallbackServices;

const FLOW = `
label: external_review
states:
  - {label: untracked, freetext: Entry, transitions: [{destination: review}]}
  - label: review
    freetext: Waiting for the external reviewer
    callbacks:
      - {label: notify_reviewer, function: external_program, wait_timeout: 1440, variable_map: {grade: /grade},
         callback_arguments: {binary: notify, args: [$CALLBACK_EXECUTION, $CALLBACK_SECRET, $EXPERIMENT]}}
    transitions:
      - {destination: accepted, condition: "callbacks['notify_reviewer'].result == 'success' and experiment.variables['grade'] in ['A', 'B']"}
      - {destination: rework}
  - {label: accepted, freetext: Accepted}
  - label: rework
    freetext: Needs rework
    callbacks: [{label: resubmission, function: sleep, wait_timeout: 10080, callback_arguments: {seconds: 0}}]
    transitions: [{destination: review}]
`;

async function mkToken(projectId: string, scopes: string[]) {
  const t = generateToken();
  await db.prisma.projectApiToken.create({ data: { projectId, name: `t-${scopes.join("+")}`, prefix: t.prefix, tokenHash: t.tokenHash, scopes } });
  return t.token;
}

let n = 0;
async function governed() {
  const subj = await db.prisma.archiveSubject.upsert({ where: { projectId_label: { projectId: P, label: "SUBJ01" } }, create: { projectId: P, label: "SUBJ01" }, update: {} });
  const e = await db.prisma.archiveExperiment.create({ data: { projectId: P, subjectId: subj.id, label: `SUBJ01_E${++n}`, studyInstanceUid: `2.25.77${n}`, studyDate: "20240102" } });
  const s = testScheduler(() => db.prisma, () => services);
  await governExperiment(db.prisma, e.id, "event:archived", s);
  await s.drain();
  const [execUrl, secret] = fs.readFileSync(path.join(tmp, "handed"), "utf8").trim().split(" ");
  return { experimentId: e.id, executionId: execUrl!.split("/").pop()!, execUrl: execUrl!, secret: secret! };
}

const call = (method: string, p: string, o: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) =>
  fetch(`${server.url}${p}`, {
    method,
    headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body !== undefined ? { "content-type": "application/json" } : {}), ...(o.headers ?? {}) },
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  process.env.ATRIUM_PUBLIC_URL = "http://atrium.test";
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Governor API" } });
  await db.prisma.project.create({ data: { id: "GOVOTHER", idLower: "govother", name: "Other" } });
  tokens.workflow = await mkToken(P, ["workflow"]);
  tokens.read = await mkToken(P, ["read"]);
  tokens.stow = await mkToken(P, ["stow"]);
  tokens.other = await mkToken("GOVOTHER", ["workflow"]);
  services = {
    programs: { notify: writeProgram(tmp, "notify", `echo "$1 $2" > ${path.join(tmp, "handed")}; echo "reviewer notified for $3"`) },
    smtp: null,
    startPipelineRun: null,
    createTasks: null,
  };
  await installWorkflow(db.prisma, P, importWorkflowYaml(FLOW), null);
  const routes = await Promise.all(
    [
      ["experiments/route", /^\/api\/v2\/experiments$/],
      ["experiments/[id]/route", /^\/api\/v2\/experiments\/(?<id>[^/]+)$/],
      ["experiments/[id]/state/route", /^\/api\/v2\/experiments\/(?<id>[^/]+)\/state$/],
      ["experiments/[id]/actions/route", /^\/api\/v2\/experiments\/(?<id>[^/]+)\/actions$/],
      ["states/[id]/route", /^\/api\/v2\/states\/(?<id>[^/]+)$/],
      ["transitions/[id]/route", /^\/api\/v2\/transitions\/(?<id>[^/]+)$/],
      ["callback_executions/[id]/route", /^\/api\/v2\/callback_executions\/(?<id>[^/]+)$/],
    ].map(async ([file, pattern]) => ({ mod: (await import(/* @vite-ignore */ path.resolve("app/api/v2", `${file}.ts`))) as Record<string, unknown>, pattern: pattern as RegExp })),
  );
  server = await startRouteServer(
    routes.flatMap(({ mod, pattern }) =>
      (["GET", "PUT"] as const).filter((m) => typeof mod[m] === "function").map((m) => ({ method: m, pattern, handler: mod[m] as never })),
    ),
  );
});
afterAll(async () => {
  await server?.close();
  setDbHandle(undefined);
  await db?.drop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("Study Governor API v2", () => {
  it("the program got the execution URL and its secret; the callback waits; GET shows it (secret or token)", async () => {
    const g = await governed();
    expect(g.execUrl).toBe(`http://atrium.test/api/v2/callback_executions/${g.executionId}`);
    expect(g.secret).toMatch(/^[0-9a-f]{256}$/);
    const noCred = await call("GET", `/api/v2/callback_executions/${g.executionId}`);
    expect(noCred.status).toBe(401);
    const bySecret = await call("GET", `/api/v2/callback_executions/${g.executionId}`, { headers: { "x-callback-secret": g.secret } });
    expect(bySecret.status).toBe(200);
    const doc = (await bySecret.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      id: g.executionId,
      uri: `/api/v2/callback_executions/${g.executionId}`,
      status: "waiting",
      result: "none",
      callback: { label: "notify_reviewer", function: "external_program", wait_timeout: 1440, variable_map: { grade: "/grade" } },
      experiment: { id: g.experimentId, uri: `/api/v2/experiments/${g.experimentId}` },
      subject: { label: "SUBJ01" },
    });
    expect(doc.run_log).toContain("reviewer notified");
    const byToken = await call("GET", `/api/v2/callback_executions/${g.executionId}`, { token: tokens.read });
    expect(byToken.status).toBe(200);
    const wrong = await call("GET", `/api/v2/callback_executions/${g.executionId}`, { headers: { "x-callback-secret": "0".repeat(256) } });
    expect(wrong.status).toBe(403);
  });

  it("PUT with a wrong secret is 403 and changes nothing; the reference's payload resolves it and the branch is taken; a second PUT is 409", async () => {
    const g = await governed();
    const bad = await call("PUT", `/api/v2/callback_executions/${g.executionId}`, { body: { status: "finished", result: "success", secret_key: "f".repeat(256) } });
    expect(bad.status).toBe(403);
    expect(((await bad.json()) as { error: string }).error).toMatch(/secret_key does not match/);
    // The runner's spelling: `secret`, with a status update first.
    const running = await call("PUT", `/api/v2/callback_executions/${g.executionId}`, { body: { status: "waiting", run_log: "waiting for the reviewer", secret: g.secret } });
    expect(running.status).toBe(200);
    const ok = await call("PUT", `/api/v2/callback_executions/${g.executionId}`, {
      body: { status: "finished", result: "success", result_values: { grade: "A", reviewer: "R1" }, result_log: "graded", secret_key: g.secret },
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: "finished", result: "success", result_values: { grade: "A", reviewer: "R1" } });
    const exp = (await (await call("GET", `/api/v2/experiments/${g.experimentId}`, { token: tokens.read })).json()) as Record<string, unknown>;
    expect(exp).toMatchObject({
      id: g.experimentId,
      label: expect.stringMatching(/^SUBJ01_E/),
      uri: `/api/v2/experiments/${g.experimentId}`,
      api_uri: `http://atrium.test/api/v2/experiments/${g.experimentId}`,
      subject: { label: "SUBJ01" },
      scandate: "2024-01-02T00:00:00",
      state: { label: "accepted" },
      variable_map: { grade: "A" },
    });
    const again = await call("PUT", `/api/v2/callback_executions/${g.executionId}`, { body: { status: "finished", result: "failed", secret_key: g.secret } });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: string }).error).toMatch(/already resolved/);
  });

  it("a failed result takes the other branch; bad bodies are 400 with what to send", async () => {
    const g = await governed();
    const junk = await call("PUT", `/api/v2/callback_executions/${g.executionId}`, { body: { status: "done", secret_key: g.secret } });
    expect(junk.status).toBe(400);
    expect(((await junk.json()) as { error: string }).error).toMatch(/status/);
    const r = await call("PUT", `/api/v2/callback_executions/${g.executionId}`, { body: { status: "finished", result: "failed", secret_key: g.secret } });
    expect(r.status).toBe(200);
    const st = (await (await call("GET", `/api/v2/experiments/${g.experimentId}/state`, { token: tokens.workflow })).json()) as { state: { label: string; id: string } };
    expect(st.state.label).toBe("rework");
  });

  it("PUT /experiments/{id}/state: a workflow token sets a state along a transition; 404 unknown state, 409 no transition; read and stow tokens and other projects refused", async () => {
    const g = await governed();
    // Resolve to rework first.
    await call("PUT", `/api/v2/callback_executions/${g.executionId}`, { body: { status: "finished", result: "failed", secret_key: g.secret } });
    const url = `/api/v2/experiments/${g.experimentId}/state`;
    expect((await call("PUT", url, { token: tokens.read, body: { state_label: "review" } })).status).toBe(403);
    expect((await call("PUT", url, { token: tokens.stow, body: { state_label: "review" } })).status).toBe(403);
    expect((await call("PUT", url, { token: tokens.other, body: { state_label: "review" } })).status).toBe(403);
    expect((await call("PUT", url, { body: { state_label: "review" } })).status).toBe(401);
    const unknown = await call("PUT", url, { token: tokens.workflow, body: { state_label: "nowhere" } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ success: false, error: { errorclass: "CouldNotFindResourceError" } });
    const noPath = await call("PUT", url, { token: tokens.workflow, body: { state_label: "accepted", freetext: "skip review" } });
    expect(noPath.status).toBe(409);
    expect(await noPath.json()).toMatchObject({ success: false, state: { label: "rework" }, error: { errorclass: "NoValidTransitionError" } });
    const ok = await call("PUT", url, { token: tokens.workflow, body: { state_label: "review", freetext: "second look" } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ success: true, error: null, state: { label: "review" } });
    const actions = (await (await call("GET", `/api/v2/experiments/${g.experimentId}/actions`, { token: tokens.workflow })).json()) as { actions: Record<string, unknown>[] };
    expect(actions.actions.map((a) => [(a.destination_state as { label: string }).label, a.cause])).toEqual([
      ["untracked", "event:archived"],
      ["review", "auto"],
      ["rework", "callback:notify_reviewer"],
      ["review", "api:token t-workflow"],
    ]);
    expect(actions.actions[3]).toMatchObject({ freetext: "second look", transition: { uri: expect.stringMatching(/^\/api\/v2\/transitions\//) } });
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "governor.transition", targetId: g.experimentId, after: { path: ["cause"], equals: "api:token t-workflow" } } })).toBe(1);
  });

  it("states and transitions read back; the experiment list filters by state", async () => {
    const g = await governed();
    const exp = (await (await call("GET", `/api/v2/experiments/${g.experimentId}`, { token: tokens.read })).json()) as { state: { id: string; uri: string } };
    const state = (await (await call("GET", exp.state.uri, { token: tokens.read })).json()) as Record<string, unknown>;
    expect(state).toMatchObject({ label: "review", freetext: "Waiting for the external reviewer", callbacks: [{ label: "notify_reviewer" }], workflow: { label: "external_review" } });
    expect((state.experiments as { id: string }[]).map((x) => x.id)).toContain(g.experimentId);
    const t = (state.transitions as { uri: string }[])[0]!;
    const tr = (await (await call("GET", t.uri, { token: tokens.read })).json()) as Record<string, unknown>;
    expect(tr).toMatchObject({ source_state: { label: "review" }, destination_state: { label: "accepted" }, condition: expect.stringContaining("grade") });
    const list = (await (await call("GET", `/api/v2/experiments?state=review`, { token: tokens.read })).json()) as { experiments: { id: string; state: { label: string } }[] };
    expect(list.experiments.length).toBeGreaterThan(0);
    expect(list.experiments.every((x) => x.state.label === "review")).toBe(true);
    expect((await call("GET", `/api/v2/experiments`, { token: tokens.other })).status).toBe(200);
    expect(((await (await call("GET", `/api/v2/experiments`, { token: tokens.other })).json()) as { experiments: unknown[] }).experiments).toEqual([]);
    expect((await call("GET", `/api/v2/experiments/${g.experimentId}`, { token: tokens.other })).status).toBe(403);
    expect((await call("GET", `/api/v2/states/nope`, { token: tokens.read })).status).toBe(404);
  });
});
