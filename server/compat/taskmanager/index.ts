// BIGR TaskManager's REST API v1 (issue #14), served under /taskmanager/api/v1/ over Atrium's tasks,
// so a ViewR desktop client or a Study Governor `create_task` callback pointed at
// <portal>/taskmanager works unchanged. Shapes follow shared/reference/task-supervisor-viewr.md:
// TaskSummary {uri, id, status, project, template, tags}, TaskGet {uri, project, template, content,
// status, lock, tags, callback_url, callback_content, generator_url, application_name,
// application_version, create_time, update_time, users, groups, users_via_group}, TaskGroupGet
// {url, id, label, status, callback_url, callback_content, tasks}.
//
// Mapping: a task id is Atrium's task number; `project` is the Atrium project id; `template` is a
// task template of that project by name (a ViewR template posted to /task_templates is kept as
// it is, format "viewr"); `distribute_in_group` is a task group by label (made when missing);
// `users` assigns the task to members by e-mail. Status: done and aborted as in TaskManager;
// queued for tasks not finished (locked ones show their lock); skipped and cannot_be_done as
// themselves. Setting `done` calls the task's callback_url with its callback_content
// (server/tasks/callbacks.ts, retried). Auth: HTTP Basic whose password is a personal API token
// (atu_…, made on My tasks; the user name is not checked), or `Authorization: Bearer atu_…`.
// Access is the same decision as everywhere (lib/access via taskAccess/projectAccess): members
// read and work on their projects' tasks, owners create tasks, groups and templates.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { db } from "@/server/db";
import type { SessionUser } from "@/server/auth/session";
import { answer, HttpError, projectAccess, taskAccess } from "@/server/http/task-api";
import { jsonNoStore } from "@/server/http/access";
import { userOfToken } from "@/server/tasks/user-tokens";
import { writeAudit } from "@/server/audit";
import { TaskTemplate } from "@/lib/tasks/template";
import { parseTemplateSource } from "@/lib/tasks/parse";
import { onTaskDone } from "@/server/tasks/callbacks";

const BASE = "/taskmanager/api/v1";
const u = (p: string) => `${BASE}/${p}`;
const json = jsonNoStore;

/** The caller: Basic (password = personal token) or Bearer; 401 with a Basic challenge otherwise. */
async function caller(headers: Headers): Promise<{ prisma: PrismaClient; user: SessionUser }> {
  const prisma = await db();
  const auth = headers.get("authorization") ?? "";
  let token: string | null = null;
  const basic = /^Basic\s+(.+)$/i.exec(auth)?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, "base64").toString("utf8");
    token = decoded.slice(decoded.indexOf(":") + 1);
  } else token = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim() ?? null;
  if (!token) throw new HttpError(401, "Send HTTP Basic credentials whose password is a personal API token (atu_…, made on My tasks in the portal).");
  const user = await userOfToken(prisma, token);
  if (!user) throw new HttpError(401, "This API token is unknown or revoked: make a new one on My tasks (personal API token).");
  return { prisma, user };
}

const STATUS_OUT: Record<string, string> = { queued: "queued", locked: "queued", submitted: "queued", done: "done", aborted: "aborted", skipped: "skipped", cannot_be_done: "cannot_be_done" };

const taskSelect = {
  id: true,
  number: true,
  projectId: true,
  state: true,
  content: true,
  tags: true,
  callbackUrl: true,
  callbackContent: true,
  generatorUrl: true,
  applicationName: true,
  applicationVersion: true,
  trackingId: true,
  createdAt: true,
  updatedAt: true,
  groupId: true,
  assigneeId: true,
  readerId: true,
  lockExpiresAt: true,
  templateVersion: { select: { template: { select: { name: true } } } },
} satisfies Prisma.TaskSelect;
type TaskRow = Prisma.TaskGetPayload<{ select: typeof taskSelect }>;

const templateUri = (name: string) => u(`task_templates/${encodeURIComponent(name)}`);
const summary = (t: TaskRow) => ({
  uri: u(`tasks/${t.number}`),
  id: t.number,
  status: STATUS_OUT[t.state] ?? t.state,
  project: t.projectId,
  template: templateUri(t.templateVersion.template.name),
  tags: t.tags.map((name) => ({ uri: u(`tags/${encodeURIComponent(name)}`), name })),
});
const taskGet = (t: TaskRow) => ({
  uri: u(`tasks/${t.number}`),
  project: t.projectId,
  template: templateUri(t.templateVersion.template.name),
  content: t.content ?? null,
  status: STATUS_OUT[t.state] ?? t.state,
  lock: u(`tasks/${t.number}/lock`),
  tags: t.tags.map((name) => u(`tags/${encodeURIComponent(name)}`)),
  callback_url: t.callbackUrl,
  callback_content: t.callbackContent,
  generator_url: t.generatorUrl,
  tracking_id: t.trackingId ?? "unassigned",
  application_name: t.applicationName,
  application_version: t.applicationVersion,
  create_time: t.createdAt.toISOString(),
  update_time: t.updatedAt.toISOString(),
  users: t.assigneeId ? [u(`users/${t.assigneeId}`)] : [],
  groups: t.groupId ? [u(`taskgroups/${t.groupId}`)] : [],
  users_via_group: [],
});

// ---- Payloads (one schema each) -------------------------------------------------------------------

const content = z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]);
export const taskPostSchema = z
  .object({
    project: z.string().min(1).max(64),
    template: z.string().min(1).max(64),
    content,
    callback_url: z.string().url().max(2000).nullish(),
    callback_content: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
    generator_url: z.string().max(512).nullish(),
    tracking_id: z.string().max(100).nullish(),
    application_name: z.string().max(32).nullish(),
    application_version: z.string().max(16).nullish(),
    tags: z.array(z.string().min(1).max(32)).max(50).default([]),
    users: z.array(z.union([z.string(), z.number()])).max(50).default([]),
    groups: z.array(z.union([z.string(), z.number()])).max(50).default([]),
    distribute_in_group: z.string().max(64).nullish(),
  })
  .passthrough();
export const taskPutSchema = z
  .object({
    status: z.string().max(32).optional(),
    content: content.optional(),
    tags: z.array(z.string().min(1).max(32)).max(50).optional(),
    callback_url: z.string().url().max(2000).nullish(),
    callback_content: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
  })
  .passthrough();
export const taskGroupPostSchema = z.object({
  label: z.string().min(1).max(64),
  callback_url: z.string().url().max(2000).nullish(),
  callback_content: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
  tasks: z.array(taskPostSchema).min(1).max(1000),
  distribute_in_group: z.string().max(64).nullish(),
  distribute_method: z.enum(["same", "unique"]).default("same"),
});
export const templatePostSchema = z.object({ label: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/), content: z.union([z.string(), z.record(z.string(), z.unknown())]), project: z.string().min(1).max(64) });

const text = (v: string | Record<string, unknown> | null | undefined) => (v === null || v === undefined ? null : typeof v === "string" ? v : JSON.stringify(v));
const parseContent = (v: z.infer<typeof content>): Prisma.InputJsonValue => {
  if (typeof v !== "string") return v as Prisma.InputJsonValue;
  try {
    return JSON.parse(v) as Prisma.InputJsonValue;
  } catch {
    return v;
  }
};

async function body<T>(req: Request, schema: z.ZodType<T>): Promise<T> {
  const raw = await req.text();
  let parsed: unknown;
  try {
    parsed = raw.trim() ? JSON.parse(raw) : {};
  } catch {
    throw new HttpError(400, "The body is not JSON: send Content-Type application/json with a JSON object.");
  }
  const r = schema.safeParse(parsed);
  if (!r.success) throw new HttpError(400, r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
  return r.data;
}

async function taskByNumber(prisma: PrismaClient, user: SessionUser, idText: string, level: "member" | "owner") {
  const n = Number(idText);
  const row = Number.isInteger(n) && n > 0 && n < 2 ** 31 ? await prisma.task.findUnique({ where: { number: n }, select: { id: true } }) : null;
  if (!row) throw new HttpError(404, `No task ${idText}.`);
  await taskAccess(prisma, user, row.id, level);
  return prisma.task.findUniqueOrThrow({ where: { id: row.id }, select: taskSelect });
}

async function templateVersionOf(prisma: PrismaClient, projectId: string, name: string) {
  const t = await prisma.taskTemplate.findUnique({ where: { projectId_name: { projectId, name } }, select: { versions: { orderBy: { version: "desc" }, take: 1, select: { id: true, format: true, definition: true } } } });
  const v = t?.versions[0];
  if (!v) throw new HttpError(400, `Project ${projectId} has no task template '${name}': post it to ${BASE}/task_templates (with "project") or make it on the project's Tasks tab.`);
  return v;
}

async function groupFor(prisma: PrismaClient, projectId: string, label: string, templateVersionId: string, extra: Prisma.TaskGroupUncheckedCreateInput | null = null) {
  const found = extra ? null : await prisma.taskGroup.findFirst({ where: { projectId, label }, orderBy: { createdAt: "desc" }, select: { id: true } });
  return found ?? prisma.taskGroup.create({ data: extra ?? { projectId, label, templateVersionId, distribution: "pool" }, select: { id: true } });
}

async function assigneeOf(prisma: PrismaClient, projectId: string, users: (string | number)[]): Promise<string | null> {
  if (!users.length) return null;
  const who = String(users[0]);
  const m = await prisma.projectMember.findFirst({ where: { projectId, role: { in: ["member", "owner"] }, user: { OR: [{ id: who }, { email: { equals: who, mode: "insensitive" } }] } }, select: { userId: true } });
  if (!m) throw new HttpError(400, `users: '${who}' is not a member of project ${projectId}; tasks go to members (by e-mail).`);
  return m.userId;
}

/** Creates one task (POST /tasks, and each task of POST /taskgroups). */
async function insertTask(prisma: PrismaClient, user: SessionUser, t: z.infer<typeof taskPostSchema>, groupId: string | null): Promise<TaskRow> {
  await projectAccess(prisma, user, t.project, "owner");
  if (t.users.length && t.distribute_in_group) throw new HttpError(400, "Give users or distribute_in_group, not both (as TaskManager).");
  const version = await templateVersionOf(prisma, t.project, t.template);
  const group = groupId ?? (await groupFor(prisma, t.project, t.distribute_in_group || `TaskManager: ${t.template}`, version.id)).id;
  const data = parseContent(t.content);
  const caseKey = `tm:${createHash("sha256").update(JSON.stringify(data)).digest("hex").slice(0, 32)}:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const created = await prisma.task.create({
    data: {
      projectId: t.project,
      groupId: group,
      templateVersionId: version.id,
      caseKey,
      content: data,
      tags: [...new Set(t.tags)],
      trackingId: t.tracking_id ?? null,
      callbackUrl: t.callback_url ?? null,
      callbackContent: text(t.callback_content),
      generatorUrl: t.generator_url ?? null,
      applicationName: t.application_name ?? null,
      applicationVersion: t.application_version ?? null,
      assigneeId: await assigneeOf(prisma, t.project, t.users),
    },
    select: taskSelect,
  });
  await writeAudit(prisma, { projectId: t.project, actorId: user.id, action: "task.create", targetType: "Task", targetId: created.id, after: { via: "taskmanager", template: t.template, callback: Boolean(t.callback_url) } });
  return created;
}

/** PUT /tasks/{id}: status (done, aborted, queued), content, tags, callback. */
async function updateTask(prisma: PrismaClient, user: SessionUser, t: TaskRow, put: z.infer<typeof taskPutSchema>): Promise<TaskRow> {
  const ctx = await taskAccess(prisma, user, t.id, "member");
  const owner = ctx.level === "owner";
  const mine = t.readerId === user.id || t.assigneeId === user.id || (!t.assigneeId && !t.readerId);
  if (!owner && !mine) throw new HttpError(403, "This task is another reader's: only they or a project owner may change it.");
  if ((put.content !== undefined || put.callback_url !== undefined || put.callback_content !== undefined) && !owner) throw new HttpError(403, "Only a project owner changes a task's content or callback.");
  const data: Prisma.TaskUncheckedUpdateManyInput = {};
  if (put.content !== undefined) data.content = parseContent(put.content);
  if (put.tags) data.tags = [...new Set(put.tags)];
  if (put.callback_url !== undefined) data.callbackUrl = put.callback_url ?? null;
  if (put.callback_content !== undefined) data.callbackContent = text(put.callback_content);
  let done = false;
  if (put.status !== undefined && put.status !== (STATUS_OUT[t.state] ?? t.state)) {
    if (["done", "aborted", "skipped", "cannot_be_done"].includes(t.state)) throw new HttpError(409, `Task ${t.number} is ${STATUS_OUT[t.state] ?? t.state} already; it cannot change.`);
    if (put.status === "done") {
      data.state = "done";
      data.doneAt = new Date();
      data.submittedAt = new Date();
      data.lockExpiresAt = null;
      done = true;
    } else if (put.status === "aborted") {
      data.state = "aborted";
      data.lockExpiresAt = null;
    } else if (put.status === "queued") {
      data.state = "queued";
      data.readerId = null;
      data.lockExpiresAt = null;
    } else throw new HttpError(400, `status: '${put.status}' is not one Atrium maps (queued, done or aborted).`);
  }
  const updated = await prisma.$transaction(async (tx) => {
    const n = await tx.task.updateMany({ where: { id: t.id, state: t.state }, data });
    if (!n.count) throw new HttpError(409, `Task ${t.number} changed meanwhile; read it again.`);
    // TaskManager: a task aborted aborts its group (all its tasks).
    if (put.status === "aborted" && t.groupId) {
      await tx.taskGroup.update({ where: { id: t.groupId }, data: { aborted: true } });
      await tx.task.updateMany({ where: { groupId: t.groupId, state: { in: ["queued", "locked", "submitted"] } }, data: { state: "aborted", lockExpiresAt: null } });
    }
    await writeAudit(tx, { projectId: t.projectId, actorId: user.id, action: "task.update", targetType: "Task", targetId: t.id, before: { state: t.state }, after: { via: "taskmanager", ...(put.status ? { status: put.status } : {}) } });
    return tx.task.findUniqueOrThrow({ where: { id: t.id }, select: taskSelect });
  });
  if (done) await onTaskDone(prisma, t.id);
  return updated;
}

async function lockDoc(prisma: PrismaClient, t: { readerId: string | null; lockExpiresAt: Date | null; state: string }, error: string | null = null) {
  const live = t.readerId && t.state === "locked" && t.lockExpiresAt && t.lockExpiresAt > new Date();
  const who = live ? await prisma.user.findUnique({ where: { id: t.readerId! }, select: { email: true } }) : null;
  return { lock: live ? u(`users/${t.readerId}`) : null, username: who?.email ?? null, error };
}

async function groupDoc(prisma: PrismaClient, groupId: string) {
  const g = await prisma.taskGroup.findUniqueOrThrow({ where: { id: groupId }, select: { id: true, label: true, aborted: true, callbackUrl: true, callbackContent: true, tasks: { select: taskSelect, orderBy: { number: "asc" } } } });
  const status = g.aborted || g.tasks.some((t) => t.state === "aborted") ? "aborted" : g.tasks.length && g.tasks.every((t) => t.state === "done") ? "done" : "queued";
  return { url: u(`taskgroups/${g.id}`), id: g.id, label: g.label, status, callback_url: g.callbackUrl, callback_content: g.callbackContent, tasks: g.tasks.map(summary) };
}

/** Projects the caller is a member or owner of (TaskManager lists a user's own tasks). */
async function myProjects(prisma: PrismaClient, user: SessionUser): Promise<string[]> {
  return (await prisma.projectMember.findMany({ where: { userId: user.id, role: { in: ["member", "owner"] } }, select: { projectId: true } })).map((m) => m.projectId);
}

// ---- The router ------------------------------------------------------------------------------------

export async function handleTaskManager(req: Request, method: "GET" | "POST" | "PUT" | "DELETE", path: string[]): Promise<Response> {
  const res = await route(req, method, path);
  // TaskManager clients authenticate with HTTP Basic: challenge them so.
  if (res.status === 401) res.headers.set("www-authenticate", 'Basic realm="atrium-taskmanager"');
  return res;
}

async function route(req: Request, method: "GET" | "POST" | "PUT" | "DELETE", path: string[]): Promise<Response> {
  return answer(async () => {
    const { prisma, user } = await caller(req.headers);
    const [head, id, sub, ...rest] = path.map((p) => decodeURIComponent(p));
    if (rest.length) throw new HttpError(404, `No such TaskManager resource: ${BASE}/${path.join("/")}.`);
    const url = new URL(req.url);

    if (head === "tasks" && !id) {
      if (method === "POST") return json(taskGet(await insertTask(prisma, user, await body(req, taskPostSchema), null)), 201);
      if (method !== "GET") throw new HttpError(405, "Use GET or POST on /tasks.");
      const q = url.searchParams;
      const projects = await myProjects(prisma, user);
      const project = q.get("project");
      const status = q.get("status");
      const where: Prisma.TaskWhereInput = {
        // A project the caller is not a member of lists nothing (as TaskManager lists a user's own tasks).
        projectId: { in: project ? projects.filter((p) => p === project) : projects },
        ...(q.get("template") ? { templateVersion: { template: { name: q.get("template")! } } } : {}),
        ...(status ? { state: { in: (Object.keys(STATUS_OUT) as (keyof typeof STATUS_OUT)[]).filter((s) => STATUS_OUT[s] === status) as never[] } } : {}),
        ...(q.getAll("tag").length ? { tags: { hasEvery: q.getAll("tag") } } : {}),
        ...(q.get("application_name") ? { applicationName: q.get("application_name") } : {}),
        ...(q.get("user") ? { OR: [{ assigneeId: q.get("user")! }, { assignee: { email: q.get("user")! } }] } : {}),
      };
      const offset = Math.max(0, Number(q.get("offset") ?? 0) || 0);
      const limit = Math.min(1000, Math.max(1, Number(q.get("limit") ?? 100) || 100));
      const [rows, total] = await Promise.all([prisma.task.findMany({ where, select: taskSelect, orderBy: { number: "asc" }, skip: offset, take: limit }), prisma.task.count({ where })]);
      return json({ tasks: rows.map(summary), total_tasks: total, offset, limit });
    }

    if (head === "tasks" && id && !sub) {
      if (method === "GET") return json(taskGet(await taskByNumber(prisma, user, id, "member")));
      if (method === "PUT") return json(taskGet(await updateTask(prisma, user, await taskByNumber(prisma, user, id, "member"), await body(req, taskPutSchema))));
      if (method === "DELETE") {
        const t = await taskByNumber(prisma, user, id, "owner");
        await prisma.$transaction(async (tx) => {
          await tx.task.delete({ where: { id: t.id } });
          await writeAudit(tx, { projectId: t.projectId, actorId: user.id, action: "task.delete", targetType: "Task", targetId: t.id, after: { via: "taskmanager", number: t.number } });
        });
        return json({ deleted: u(`tasks/${t.number}`) });
      }
      throw new HttpError(405, "Use GET, PUT or DELETE on /tasks/{id}.");
    }

    if (head === "tasks" && id && sub === "lock") {
      const t = await taskByNumber(prisma, user, id, "member");
      if (method === "GET") return json(await lockDoc(prisma, t));
      const group = t.groupId ? await prisma.taskGroup.findUnique({ where: { id: t.groupId }, select: { lockMinutes: true } }) : null;
      const live = t.state === "locked" && t.readerId && t.lockExpiresAt && t.lockExpiresAt > new Date();
      if (method === "PUT") {
        if (live && t.readerId !== user.id) return json(await lockDoc(prisma, t, "Task already locked!"), 409);
        if (!["queued", "locked"].includes(t.state)) return json(await lockDoc(prisma, t, `Task is ${STATUS_OUT[t.state] ?? t.state}; it cannot be locked.`), 409);
        if (t.assigneeId && t.assigneeId !== user.id) return json(await lockDoc(prisma, t, "Task is assigned to another user."), 409);
        const until = new Date(Date.now() + (group?.lockMinutes ?? 30) * 60_000);
        const n = await prisma.task.updateMany({ where: { id: t.id, state: t.state, readerId: t.readerId }, data: { state: "locked", readerId: user.id, lockExpiresAt: until, startedAt: t.state === "queued" ? new Date() : undefined } });
        if (!n.count) return json(await lockDoc(prisma, t, "Task already locked!"), 409);
        return json(await lockDoc(prisma, { readerId: user.id, lockExpiresAt: until, state: "locked" }));
      }
      if (method === "DELETE") {
        const ctx = await taskAccess(prisma, user, t.id, "member");
        if (live && t.readerId !== user.id && ctx.level !== "owner") return json(await lockDoc(prisma, t, "Only the user holding the lock or a project owner may release it."), 403);
        if (t.state === "locked") await prisma.task.updateMany({ where: { id: t.id, state: "locked" }, data: { state: "queued", readerId: null, lockExpiresAt: null } });
        return json({ lock: null, username: null, error: null });
      }
      throw new HttpError(405, "Use GET, PUT or DELETE on /tasks/{id}/lock.");
    }

    if (head === "taskgroups") {
      if (!id && method === "POST") {
        const g = await body(req, taskGroupPostSchema);
        const projects = [...new Set(g.tasks.map((t) => t.project))];
        if (projects.length !== 1) throw new HttpError(400, "tasks: every task of a task group must name the same project.");
        await projectAccess(prisma, user, projects[0]!, "owner");
        const first = await templateVersionOf(prisma, projects[0]!, g.tasks[0]!.template);
        const group = await groupFor(prisma, projects[0]!, g.label, first.id, {
          projectId: projects[0]!,
          label: g.label,
          templateVersionId: first.id,
          distribution: g.distribute_method,
          callbackUrl: g.callback_url ?? null,
          callbackContent: text(g.callback_content),
        });
        for (const t of g.tasks) await insertTask(prisma, user, { ...t, distribute_in_group: null }, group.id);
        return json(await groupDoc(prisma, group.id), 201);
      }
      if (id && method === "GET") {
        const projects = await myProjects(prisma, user);
        const g = await prisma.taskGroup.findFirst({ where: { projectId: { in: projects }, OR: [{ id }, { label: id }] }, orderBy: { createdAt: "desc" }, select: { id: true } });
        if (!g) throw new HttpError(404, `No task group ${id}.`);
        return json(await groupDoc(prisma, g.id));
      }
      throw new HttpError(405, "Use POST on /taskgroups or GET on /taskgroups/{id or label}.");
    }

    if (head === "task_templates") {
      const projects = await myProjects(prisma, user);
      if (!id && method === "GET") {
        const rows = await prisma.taskTemplate.findMany({ where: { projectId: { in: projects } }, select: { name: true }, orderBy: { name: "asc" } });
        return json({ task_templates: [...new Set(rows.map((r) => r.name))].map(templateUri) });
      }
      if (!id && method === "POST") {
        const t = await body(req, templatePostSchema);
        await projectAccess(prisma, user, t.project, "owner");
        const source = typeof t.content === "string" ? t.content : JSON.stringify(t.content, null, 2);
        // An Atrium template is kept as one; anything else is a ViewR template, stored as it is.
        const parsed = parseTemplateSource(source);
        const definition = parsed.ok ? (parsed.template as unknown as Prisma.InputJsonValue) : (parseContent(t.content) as Prisma.InputJsonValue);
        const saved = await prisma.$transaction(async (tx) => {
          const tpl = await tx.taskTemplate.upsert({ where: { projectId_name: { projectId: t.project, name: t.label } }, create: { projectId: t.project, name: t.label, createdById: user.id }, update: {} });
          const last = await tx.taskTemplateVersion.findFirst({ where: { templateId: tpl.id }, orderBy: { version: "desc" }, select: { version: true } });
          await tx.taskTemplateVersion.create({ data: { templateId: tpl.id, version: (last?.version ?? 0) + 1, source, format: parsed.ok ? "atrium" : "viewr", definition, createdById: user.id } });
          await writeAudit(tx, { projectId: t.project, actorId: user.id, action: "task.template.save", targetType: "TaskTemplate", targetId: tpl.id, after: { name: t.label, via: "taskmanager", format: parsed.ok ? "atrium" : "viewr" } });
          return tpl;
        });
        return json({ uri: templateUri(saved.name), label: saved.name, content: definition }, 201);
      }
      if (id && method === "GET") {
        const tpl = await prisma.taskTemplate.findFirst({ where: { projectId: { in: projects }, name: id }, select: { name: true, versions: { orderBy: { version: "desc" }, take: 1, select: { format: true, definition: true } } } });
        if (!tpl?.versions[0]) throw new HttpError(404, `No task template ${id}.`);
        const v = tpl.versions[0];
        return json({ uri: templateUri(tpl.name), label: tpl.name, content: v.format === "atrium" ? TaskTemplate.parse(v.definition) : v.definition });
      }
      throw new HttpError(405, "Use GET or POST on /task_templates, GET on /task_templates/{label}.");
    }

    if (head === "users" && id && sub === "tasks" && method === "GET") {
      if (id !== user.id && id.toLowerCase() !== user.email?.toLowerCase() && id !== "me") throw new HttpError(403, "You can list your own tasks only (users/me/tasks).");
      const rows = await prisma.task.findMany({ where: { OR: [{ assigneeId: user.id }, { readerId: user.id }], projectId: { in: await myProjects(prisma, user) } }, select: taskSelect, orderBy: { number: "asc" }, take: 1000 });
      return json({ tasks: rows.map(summary) });
    }

    throw new HttpError(404, `No such TaskManager resource: ${BASE}/${path.join("/")}. Atrium serves tasks, tasks/{id}, tasks/{id}/lock, taskgroups, task_templates and users/{id}/tasks.`);
  });
}
