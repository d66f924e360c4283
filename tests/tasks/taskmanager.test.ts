// Issue #14 "TaskManager compatibility: the original's REST API v1 … served under
// /taskmanager/api/v1/ with HTTP Basic over a user's API token … a Study Governor's create_task
// callback pointed at <portal>/taskmanager works unchanged: setting a task done calls its
// callback_url with its callback_content (with retries)". The route on real PostgreSQL with the
// reference's payloads (shared/reference/task-supervisor-viewr.md and study-governor.md), a real
// HTTP server as the callback's receiver, and this Atrium's own governor as another.
import http from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { setDbHandle } from "@/server/db";
import { createUserToken } from "@/server/tasks/user-tokens";
import { deliverDueCallbacks } from "@/server/tasks/callbacks";
import { hashSecret, newCallbackSecret } from "@/lib/governor";
import { importWorkflowYaml } from "@/lib/governor";
import { installWorkflow, publicBase } from "@/server/governor/engine";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";

type Method = "GET" | "POST" | "PUT" | "DELETE";
const route = (await import(path.resolve("app/taskmanager/api/v1/[...path]/route.ts"))) as Record<Method, (req: Request, ctx: { params: Promise<{ path: string[] }> }) => Promise<Response>>;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const P = "TMCOMPAT";
const tokens: Record<"owner" | "reader" | "other" | "outsider", string> = { owner: "", reader: "", other: "", outsider: "" };
const emails = { owner: "owner@tm.test", reader: "reader@tm.test", other: "other@tm.test", outsider: "outsider@tm.test" };

// The receiver of callbacks: answers 500 to the first call (to show the retry), then 200.
const received: { method: string; url: string; body: string }[] = [];
let failNext = 1;
const receiver = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    received.push({ method: req.method!, url: req.url!, body });
    res.statusCode = failNext-- > 0 ? 500 : 200;
    res.end("{}");
  });
});
let receiverUrl = "";

async function call(method: Method, p: string, who: keyof typeof tokens | null, body?: unknown, auth: "basic" | "bearer" = "basic") {
  const headers = new Headers({ "content-type": "application/json" });
  if (who) headers.set("authorization", auth === "basic" ? `Basic ${Buffer.from(`${emails[who]}:${tokens[who]}`).toString("base64")}` : `Bearer ${tokens[who]}`);
  const req = new Request(`http://atrium.test/taskmanager/api/v1/${p}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const res = await route[method](req, { params: Promise.resolve({ path: p.split("?")[0]!.split("/") }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: string } };
}

// The ViewR template and the task a Study Governor create_task posts (task_base filled, task_info merged).
const VIEWR_TEMPLATE = { template_name: "manual_qa", contexts: [{ name: "qa", layout: "single", scans: ["T1"] }], preset: { qa: { fields: [{ name: "ok", type: "boolean" }] } } };
const sgTask = (callbackUrl: string, secret: string) => ({
  project: P,
  template: "manual_qa",
  content: JSON.stringify({ experiment_id: "XNAT_E00042", subject_id: "XNAT_S00042", label: "SUBJ42_MR1", system_url: "https://xnat.example.org" }),
  callback_url: callbackUrl,
  callback_content: JSON.stringify({ status: "finished", result: "success", secret_key: secret }),
  generator_url: "https://governor.example.org/experiments/42",
  tracking_id: "governor-42",
  application_name: "ViewR",
  application_version: "5.1.4",
  tags: ["qa", "mri"],
  distribute_in_group: "raters",
});

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  const users = Object.fromEntries(await Promise.all(Object.entries(emails).map(async ([k, email]) => [k, (await db.prisma.user.create({ data: { email, name: k } })).id]))) as Record<keyof typeof emails, string>;
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "TM", members: { create: [{ userId: users.owner, role: "owner" }, { userId: users.reader, role: "member" }] } } });
  for (const k of Object.keys(tokens) as (keyof typeof tokens)[]) tokens[k] = (await createUserToken(db.prisma, users[k], "viewr")).token;
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
});
afterAll(async () => {
  receiver.close();
  setDbHandle(undefined);
  await db?.drop();
});

describe("TaskManager API v1 compatibility", () => {
  let taskId = 0;

  it("asks for credentials: none or an unknown token is a 401 that says what to send", async () => {
    const challenge = await route.GET(new Request("http://atrium.test/taskmanager/api/v1/tasks"), { params: Promise.resolve({ path: ["tasks"] }) });
    expect(challenge.headers.get("www-authenticate")).toBe('Basic realm="atrium-taskmanager"');
    const none = await call("GET", "tasks", null);
    expect(none.status).toBe(401);
    expect(none.body.error).toMatch(/personal API token/);
    tokens.other = "atu_not-a-token";
    expect((await call("GET", "tasks", "other")).status).toBe(401);
  });

  it("an owner posts a ViewR template and a Study Governor's create_task payload; a member may not", async () => {
    const tpl = await call("POST", "task_templates", "owner", { label: "manual_qa", content: VIEWR_TEMPLATE, project: P });
    expect(tpl.status).toBe(201);
    expect(tpl.body).toEqual({ uri: "/taskmanager/api/v1/task_templates/manual_qa", label: "manual_qa", content: VIEWR_TEMPLATE });
    expect((await call("GET", "task_templates/manual_qa", "reader")).body.content).toEqual(VIEWR_TEMPLATE);
    expect((await call("GET", "task_templates", "reader")).body).toEqual({ task_templates: ["/taskmanager/api/v1/task_templates/manual_qa"] });

    expect((await call("POST", "tasks", "reader", sgTask(`${receiverUrl}/cb`, "s")).then((r) => r.status))).toBe(403);
    const bad = await call("POST", "tasks", "owner", { ...sgTask(`${receiverUrl}/cb`, "s"), template: "missing" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/no task template 'missing'/);
    expect((await call("POST", "tasks", "owner", { ...sgTask(`${receiverUrl}/cb`, "s"), users: [emails.reader] })).body.error).toMatch(/users or distribute_in_group, not both/);

    const created = await call("POST", "tasks", "owner", sgTask(`${receiverUrl}/cb`, "s3cret"), "bearer");
    expect(created.status).toBe(201);
    taskId = Number(String(created.body.uri).split("/").pop());
    expect(created.body).toMatchObject({
      uri: `/taskmanager/api/v1/tasks/${taskId}`,
      project: P,
      template: "/taskmanager/api/v1/task_templates/manual_qa",
      content: { experiment_id: "XNAT_E00042", label: "SUBJ42_MR1" },
      status: "queued",
      lock: `/taskmanager/api/v1/tasks/${taskId}/lock`,
      tags: ["/taskmanager/api/v1/tags/qa", "/taskmanager/api/v1/tags/mri"],
      callback_url: `${receiverUrl}/cb`,
      generator_url: "https://governor.example.org/experiments/42",
      tracking_id: "governor-42",
      application_name: "ViewR",
      application_version: "5.1.4",
    });
    const task = await db.prisma.task.findUniqueOrThrow({ where: { number: taskId }, include: { group: true } });
    expect(task.group!.label).toBe("raters");
  });

  it("lists and reads tasks with TaskManager's filters and shapes", async () => {
    const list = await call("GET", `tasks?project=${P}&tag=qa&tag=mri&status=queued&template=manual_qa`, "reader");
    expect(list.body).toMatchObject({ total_tasks: 1, offset: 0, limit: 100 });
    expect(list.body.tasks).toEqual([{ uri: `/taskmanager/api/v1/tasks/${taskId}`, id: taskId, status: "queued", project: P, template: "/taskmanager/api/v1/task_templates/manual_qa", tags: [{ uri: "/taskmanager/api/v1/tags/qa", name: "qa" }, { uri: "/taskmanager/api/v1/tags/mri", name: "mri" }] }]);
    expect((await call("GET", `tasks?project=${P}&status=done`, "reader")).body.total_tasks).toBe(0);
    expect((await call("GET", `tasks/${taskId}`, "reader")).body.status).toBe("queued");
    expect((await call("GET", "tasks/999999", "reader")).status).toBe(404);
  });

  it("locks: the reader takes it, another is told 'Task already locked!', the holder releases", async () => {
    const mine = await call("PUT", `tasks/${taskId}/lock`, "reader");
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ lock: expect.stringMatching(/^\/taskmanager\/api\/v1\/users\//), username: emails.reader, error: null });
    const theirs = await call("PUT", `tasks/${taskId}/lock`, "owner");
    expect(theirs.status).toBe(409);
    expect(theirs.body.error).toBe("Task already locked!");
    expect((await call("GET", `tasks/${taskId}/lock`, "owner")).body.username).toBe(emails.reader);
    expect((await call("DELETE", `tasks/${taskId}/lock`, "reader")).body).toEqual({ lock: null, username: null, error: null });
    expect((await call("PUT", `tasks/${taskId}/lock`, "reader")).status).toBe(200);
  });

  it("setting it done calls the callback_url with the callback_content, retried until it answers 2xx", async () => {
    const done = await call("PUT", `tasks/${taskId}`, "reader", { status: "done" });
    expect(done.status).toBe(200);
    expect(done.body.status).toBe("done");
    expect(received).toHaveLength(1);
    expect(received[0]).toEqual({ method: "PUT", url: "/cb", body: JSON.stringify({ status: "finished", result: "success", secret_key: "s3cret" }) });
    let cb = await db.prisma.taskCallback.findFirstOrThrow({ where: { task: { number: taskId } } });
    expect(cb).toMatchObject({ attempts: 1, deliveredAt: null, lastError: "HTTP 500" });
    expect(cb.nextAttemptAt.getTime()).toBeGreaterThan(Date.now());
    // Not due yet: nothing is sent; due: sent again and delivered.
    expect(await deliverDueCallbacks(db.prisma)).toBe(0);
    expect(await deliverDueCallbacks(db.prisma, new Date(Date.now() + 2 * 60_000))).toBe(1);
    expect(received).toHaveLength(2);
    cb = await db.prisma.taskCallback.findUniqueOrThrow({ where: { id: cb.id } });
    expect(cb).toMatchObject({ attempts: 2, lastError: null });
    expect(cb.deliveredAt).not.toBeNull();
    const again = await call("PUT", `tasks/${taskId}`, "reader", { status: "queued" });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatch(/is done already/);
  });

  it("a task group calls its callback once, when its last task is done; an aborted task aborts the group", async () => {
    received.length = 0;
    failNext = 0;
    const g = await call("POST", "taskgroups", "owner", {
      label: "double-read-42",
      callback_url: `${receiverUrl}/group`,
      callback_content: { status: "finished", result: "success", secret_key: "g" },
      distribute_method: "unique",
      tasks: [sgTask(`${receiverUrl}/t1`, "a"), sgTask(`${receiverUrl}/t2`, "b")].map(({ distribute_in_group: _d, ...t }) => t),
    });
    expect(g.status).toBe(201);
    expect(g.body).toMatchObject({ label: "double-read-42", status: "queued", callback_url: `${receiverUrl}/group` });
    const ids = (g.body.tasks as { id: number }[]).map((t) => t.id);
    expect(ids).toHaveLength(2);
    await call("PUT", `tasks/${ids[0]}`, "reader", { status: "done" });
    expect(received.map((r) => r.url)).toEqual(["/t1"]);
    await call("PUT", `tasks/${ids[1]}`, "owner", { status: "done" });
    expect(received.map((r) => r.url)).toEqual(["/t1", "/t2", "/group"]);
    expect((await call("GET", "taskgroups/double-read-42", "reader")).body.status).toBe("done");

    const h = await call("POST", "taskgroups", "owner", { label: "to-abort", callback_url: `${receiverUrl}/never`, callback_content: "{}", tasks: [sgTask(`${receiverUrl}/x`, "x"), sgTask(`${receiverUrl}/y`, "y")].map(({ distribute_in_group: _d, ...t }) => t) });
    const [a, b] = (h.body.tasks as { id: number }[]).map((t) => t.id);
    expect((await call("PUT", `tasks/${a}`, "owner", { status: "aborted" })).body.status).toBe("aborted");
    expect((await call("GET", `tasks/${b}`, "reader")).body.status).toBe("aborted");
    expect((await call("GET", "taskgroups/to-abort", "reader")).body.status).toBe("aborted");
  });

  it("a callback to this Atrium's own Study Governor resolves the execution in-process, with its secret checked", async () => {
    const wf = await installWorkflow(db.prisma, P, importWorkflowYaml("label: tmflow\nstates:\n  - {label: a, transitions: [{destination: qa}]}\n  - label: qa\n    callbacks: [{label: qa_task, function: create_task, wait_timeout: 60}]\n    transitions: [{destination: done, condition: \"callbacks['qa_task'].result == 'success'\"}]\n  - {label: done}\n"), null);
    const subj = await db.prisma.archiveSubject.create({ data: { projectId: P, label: "S42" } });
    const exp = await db.prisma.archiveExperiment.create({ data: { projectId: P, subjectId: subj.id, label: "S42_MR1", studyInstanceUid: "2.25.4242" } });
    const secret = newCallbackSecret();
    const gx = await db.prisma.governorExperiment.create({
      data: { projectId: P, experimentId: exp.id, workflowId: wf.id, state: "qa", revision: 1, actions: { create: { revision: 1, toState: "qa", cause: "auto", executions: { create: { callback: "qa_task", function: "create_task", status: "waiting", secretHash: hashSecret(secret), waitStart: new Date() } } } } },
      include: { actions: { include: { executions: true } } },
    });
    const execution = gx.actions[0]!.executions[0]!;
    const own = `${publicBase()}/api/v2/callback_executions/${execution.id}`;
    // A wrong secret is not applied (and is retried: the receiver might be fixed).
    const wrong = await call("POST", "tasks", "owner", { ...sgTask(own, "0".repeat(256)), distribute_in_group: null });
    await call("PUT", `tasks/${String(wrong.body.uri).split("/").pop()}`, "owner", { status: "done" });
    expect((await db.prisma.governorCallbackExecution.findUniqueOrThrow({ where: { id: execution.id } })).status).toBe("waiting");
    expect((await db.prisma.taskCallback.findFirstOrThrow({ where: { url: own } })).lastError).toMatch(/secret_key does not match/);

    const right = await call("POST", "tasks", "owner", { ...sgTask(own, secret), distribute_in_group: null });
    await call("PUT", `tasks/${String(right.body.uri).split("/").pop()}`, "owner", { status: "done" });
    expect(await db.prisma.governorCallbackExecution.findUniqueOrThrow({ where: { id: execution.id } })).toMatchObject({ status: "finished", result: "success" });
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: gx.id } })).state).toBe("done");
  });

  it("deleting is for owners; a resource Atrium does not serve is a 404 that lists what it serves", async () => {
    const t = await call("POST", "tasks", "owner", { ...sgTask(`${receiverUrl}/z`, "z"), distribute_in_group: null });
    const n = String(t.body.uri).split("/").pop();
    // Someone of no project of the task's sees nothing of it (and cannot post into the project).
    expect((await call("GET", `tasks/${n}`, "outsider")).status).toBe(404);
    expect((await call("PUT", `tasks/${n}`, "outsider", { status: "done" })).status).toBe(404);
    expect((await call("GET", `tasks?project=${P}`, "outsider")).body.total_tasks).toBe(0);
    expect((await call("POST", "tasks", "outsider", { ...sgTask(`${receiverUrl}/z`, "z"), distribute_in_group: null })).status).toBe(404);
    expect((await call("DELETE", `tasks/${n}`, "reader")).status).toBe(403);
    expect((await call("DELETE", `tasks/${n}`, "owner")).status).toBe(200);
    expect((await call("GET", `tasks/${n}`, "owner")).status).toBe(404);
    const unknown = await call("GET", "roles", "owner");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/Atrium serves tasks, tasks\/\{id\}/);
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "task.delete" } })).toBe(1);
  });
});

// An Atrium template posted through the API stays an Atrium template (the portal's task page can show it).
describe("templates", () => {
  it("keeps an Atrium template as one", async () => {
    const r = await call("POST", "task_templates", "owner", { label: "scan-qc", content: DEMO_QC_TEMPLATE, project: P });
    expect(r.status).toBe(201);
    expect((await db.prisma.taskTemplateVersion.findFirstOrThrow({ where: { template: { projectId: P, name: "scan-qc" } } })).format).toBe("atrium");
  });
});
