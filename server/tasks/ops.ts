// Task operations used by every entry point (tRPC, REST, TaskManager compatibility): templates,
// groups, "start next" with a lock no two readers can both get, drafts, submit (validated, new
// result version), release, skip, and multi-reader adjudication. Every change is audited.
import { TRPCError } from "@trpc/server";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { sqlRows } from "@/server/db";
import { writeAudit } from "@/server/audit";
import { parseTemplateSource } from "@/lib/tasks/parse";
import { TaskTemplate } from "@/lib/tasks/template";
import { resolveTemplate, type SeriesInfo } from "@/lib/tasks/match";
import { experimentOutputs } from "./outputs";
import { Submission, validateSubmission } from "@/lib/tasks/answers";
import { DisagreementRule, findDisagreements, planAssignments, type DistributionMode, type PoolEntry } from "@/lib/tasks/group";

const bad = (message: string) => new TRPCError({ code: "BAD_REQUEST", message });
const conflict = (message: string) => new TRPCError({ code: "CONFLICT", message });
const notFound = (message: string) => new TRPCError({ code: "NOT_FOUND", message });

/** Saves a template (a new version when the name exists). Errors carry their line. */
export async function saveTemplate(prisma: PrismaClient, projectId: string, actorId: string | null, name: string, source: string) {
  const parsed = parseTemplateSource(source);
  if (!parsed.ok) throw bad(`The template is not valid: ${parsed.errors.map((e) => `line ${e.line}: ${e.path ? `${e.path}: ` : ""}${e.message}`).join("; ")}`);
  return prisma.$transaction(async (tx) => {
    const tpl = await tx.taskTemplate.upsert({ where: { projectId_name: { projectId, name } }, create: { projectId, name, createdById: actorId }, update: {} });
    const last = await tx.taskTemplateVersion.findFirst({ where: { templateId: tpl.id }, orderBy: { version: "desc" }, select: { version: true } });
    const v = await tx.taskTemplateVersion.create({
      data: { templateId: tpl.id, version: (last?.version ?? 0) + 1, source, definition: parsed.template as unknown as Prisma.InputJsonValue, createdById: actorId },
    });
    await writeAudit(tx, { projectId, actorId, action: "task.template.save", targetType: "TaskTemplate", targetId: tpl.id, after: { name, version: v.version } });
    return { templateId: tpl.id, versionId: v.id, version: v.version };
  });
}

/** The series of experiments, as the matcher sees them (local archive index); one query for any number. */
export async function experimentSeries(prisma: PrismaClient, projectId: string, experimentIds: string[]): Promise<Map<string, SeriesInfo[]>> {
  const out = new Map<string, SeriesInfo[]>(experimentIds.map((id) => [id, []]));
  if (experimentIds.length === 0) return out;
  const scans = await sqlRows<{ experimentId: string; seriesInstanceUid: string; modality: string | null; seriesDescription: string | null; instanceCount: number; seriesNumber: number | null }>(
    prisma,
    `SELECT s."experimentId", s."seriesInstanceUid", s.modality, s."seriesDescription", s."instanceCount", s."seriesNumber"
       FROM "ArchiveScan" s JOIN "ArchiveExperiment" e ON e.id = s."experimentId"
      WHERE e."projectId" = $1 AND s."experimentId" = ANY($2::text[])`,
    [projectId, experimentIds],
  );
  for (const s of scans) out.get(s.experimentId)?.push({ seriesInstanceUid: s.seriesInstanceUid, modality: s.modality, seriesDescription: s.seriesDescription, numberOfSlices: s.instanceCount, seriesNumber: s.seriesNumber });
  return out;
}

/**
 * Ids for rows inserted in bulk: cuid-shaped (c + time + sequence + random), all of one length and
 * increasing within a batch, so that rows made in one statement (one createdAt) keep their order.
 */
export function bulkIds(n: number): string[] {
  const time = Date.now().toString(36).padStart(9, "0");
  const rand = () => Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, "0");
  return Array.from({ length: n }, (_, i) => `c${time}${i.toString(36).padStart(5, "0")}${rand()}`);
}

export interface CreateGroupInput {
  label: string;
  /** submitted reads wait for an owner's review */
  review?: boolean;
  templateId: string;
  experimentIds?: string[];
  /** All experiments of the project having this modality (a project query). */
  query?: { modality?: string; labelContains?: string };
  readersPerCase: number;
  distribution: DistributionMode;
  pool: PoolEntry[];
  dueAt?: Date;
  lockMinutes?: number;
  disagreement?: unknown;
}

/** Creates a group and its tasks (readersPerCase per experiment), resolving each experiment's scans. */
export async function createGroup(prisma: PrismaClient, projectId: string, actorId: string | null, input: CreateGroupInput) {
  const version = await prisma.taskTemplateVersion.findFirst({ where: { templateId: input.templateId, template: { projectId } }, orderBy: { version: "desc" } });
  if (!version) throw notFound("No such template in this project.");
  const template = TaskTemplate.parse(version.definition);
  const rule = DisagreementRule.parse(input.disagreement ?? {});
  let experimentIds = input.experimentIds ?? [];
  if (input.query) {
    const rows = await prisma.archiveExperiment.findMany({
      where: { projectId, ...(input.query.modality ? { modalities: { has: input.query.modality } } : {}), ...(input.query.labelContains ? { label: { contains: input.query.labelContains } } : {}) },
      select: { id: true },
      orderBy: { createdAt: "asc" },
    });
    experimentIds = [...new Set([...experimentIds, ...rows.map((r) => r.id)])];
  }
  if (experimentIds.length === 0) throw bad("No experiments: give experiment ids or a query that matches some.");
  const members = new Set((await prisma.projectMember.findMany({ where: { projectId, userId: { in: input.pool.map((p) => p.userId) } }, select: { userId: true } })).map((m) => m.userId));
  const stranger = input.pool.find((p) => !members.has(p.userId));
  if (stranger) throw bad("Every reader of the pool must be a member of the project.");
  const plan = input.distribution === "pool" ? null : planAssignments(input.distribution, experimentIds.length, input.readersPerCase, input.pool);
  const group = await prisma.taskGroup.create({
    data: {
      projectId, label: input.label, templateVersionId: version.id, readersPerCase: input.readersPerCase, distribution: input.distribution, dueAt: input.dueAt ?? null,
      lockMinutes: input.lockMinutes ?? 30, review: input.review ?? false, disagreement: rule as unknown as Prisma.InputJsonValue, query: (input.query ?? null) as Prisma.InputJsonValue, createdById: actorId,
      pool: { create: input.pool.map((p) => ({ userId: p.userId, weight: p.weight })) },
    },
  });
  const rows = await insertCaseTasks(prisma, { projectId, groupId: group.id, templateVersionId: version.id, template, readersPerCase: input.readersPerCase }, experimentIds, plan);
  await writeAudit(prisma, { projectId, actorId, action: "task.group.create", targetType: "TaskGroup", targetId: group.id, after: { label: input.label, tasks: rows } });
  return { groupId: group.id, tasks: rows };
}

/**
 * Adds the tasks of these experiments (readersPerCase each) to a group, resolving each experiment's
 * scans: one query for the series, one INSERT per 5,000 tasks (a JSON array of rows: one parameter,
 * no per-row round trip). Returns how many tasks were added.
 */
export async function insertCaseTasks(
  prisma: PrismaClient,
  g: { projectId: string; groupId: string; templateVersionId: string; template: TaskTemplate; readersPerCase: number },
  experimentIds: string[],
  plan: string[][] | null = null,
): Promise<number> {
  const [series, outputs] = await Promise.all([experimentSeries(prisma, g.projectId, experimentIds), experimentOutputs(prisma, g.projectId, experimentIds)]);
  const rows: { e: string; r: number; s: string; a: string | null; res: unknown }[] = [];
  experimentIds.forEach((experimentId, i) => {
    const resolution = resolveTemplate(g.template, series.get(experimentId) ?? [], outputs.get(experimentId) ?? []);
    for (let r = 0; r < g.readersPerCase; r++) {
      rows.push({ e: experimentId, r, s: resolution.cannotBeDone ? "cannot_be_done" : "queued", a: plan?.[i]?.[r] ?? null, res: resolution });
    }
  });
  const ids = bulkIds(rows.length);
  for (let i = 0; i < rows.length; i += 5000) {
    const chunk = rows.slice(i, i + 5000).map((row, j) => ({ id: ids[i + j], ...row }));
    await sqlRows(
      prisma,
      `INSERT INTO "Task" (id, "projectId", "groupId", "templateVersionId", "caseKey", "experimentId", "readerIndex", state, "assigneeId", resolution, "updatedAt")
       SELECT x.id, $1, $2, $3, x.e, x.e, x.r, x.s::"TaskState", x.a, x.res, now() AT TIME ZONE 'UTC'
         FROM json_to_recordset($4::json) AS x(id text, e text, r int, s text, a text, res jsonb)`,
      [g.projectId, g.groupId, g.templateVersionId, JSON.stringify(chunk)],
    );
  }
  // A large insert leaves the planner's statistics of "Task" stale until autovacuum analyzes it
  // (a minute or more): meanwhile "start next" may scan instead of using its index (60 ms instead
  // of 1.5 ms with 100,000 tasks, bench/tasks.ts). Refresh them now.
  if (rows.length >= 1000) await sqlRows(prisma, `ANALYZE "Task"`, []);
  return rows.length;
}

export interface LockedTask {
  id: string;
  lockExpiresAt: Date;
}

/**
 * Takes the next task of a group for a reader and locks it. One read of the group (its lock time,
 * readers per case and whether the caller is in its pool), then one UPDATE whose candidate is the
 * first of, in this order: a task whose lock expired, a task assigned to the caller, an unassigned
 * task; each in its index order (prisma/schema/tasks.prisma: "start next") and chosen with FOR
 * UPDATE SKIP LOCKED, so concurrent callers never get the same task and never wait on each other.
 * A reader never gets two tasks of one case (checked when a group asks several reads per case;
 * also a unique index). null: none left.
 */
export async function startNext(prisma: PrismaClient, groupId: string, userId: string): Promise<LockedTask | null> {
  // One statement (one round trip to the pool, which 50 concurrent readers share): the group's
  // settings and the caller's pool weight (CTE g), then the UPDATE, only when the caller may read.
  // A reader's other tasks of the same case are excluded when the group asks several reads per
  // case (or for an adjudication of a case they read).
  const notMyCase = `AND ((SELECT g."readersPerCase" FROM g) = 1 OR NOT EXISTS (SELECT 1 FROM "Task" o WHERE o."groupId" = c."groupId" AND o."caseKey" = c."caseKey" AND o.id <> c.id AND o."readerId" = $2))`;
  const pick = (where: string, order: string) =>
    `(SELECT c.id FROM "Task" c WHERE c."groupId" = $1 AND ${where} ${notMyCase} ORDER BY ${order} LIMIT 1 FOR UPDATE SKIP LOCKED)`;
  const byPriority = `c.priority DESC, c."createdAt", c.id`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const [row] = await sqlRows<{ pooled: boolean; weight: number | null; id: string | null; lockExpiresAt: Date | null }>(
        prisma,
        `WITH g AS (
           SELECT g."lockMinutes", g."readersPerCase",
                  EXISTS (SELECT 1 FROM "TaskPoolMember" m WHERE m."groupId" = g.id) AS pooled,
                  (SELECT m.weight FROM "TaskPoolMember" m WHERE m."groupId" = g.id AND m."userId" = $2) AS weight
             FROM "TaskGroup" g WHERE g.id = $1
         ), taken AS (
           UPDATE "Task" t SET state = 'locked', "readerId" = $2, "lockExpiresAt" = now() AT TIME ZONE 'UTC' + make_interval(mins => g."lockMinutes"),
                  "startedAt" = COALESCE(t."startedAt", now() AT TIME ZONE 'UTC'), "updatedAt" = now() AT TIME ZONE 'UTC'
             FROM g
            WHERE (NOT g.pooled OR g.weight > 0)
              AND t.id = COALESCE(
                ${pick(`c.state = 'locked' AND c."lockExpiresAt" < now() AT TIME ZONE 'UTC' AND (c."assigneeId" IS NULL OR c."assigneeId" = $2)`, `c."lockExpiresAt"`)},
                ${pick(`c."assigneeId" = $2 AND c.state = 'queued'`, byPriority)},
                ${pick(`c.state = 'queued' AND c."assigneeId" IS NULL`, byPriority)})
           RETURNING t.id, t."lockExpiresAt"
         )
         SELECT g.pooled, g.weight, taken.id, taken."lockExpiresAt" FROM g LEFT JOIN taken ON true`,
        [groupId, userId],
        "tasks.startNext",
      );
      if (!row) throw notFound("No such task group.");
      if (row.pooled && !(Number(row.weight) > 0)) throw new TRPCError({ code: "FORBIDDEN", message: "You are not a reader of this task group's pool: ask an owner to add you." });
      return row.id && row.lockExpiresAt ? { id: row.id, lockExpiresAt: new Date(row.lockExpiresAt) } : null;
    } catch (e) {
      // Two reads of one case raced for the same reader: the unique index refused one; try again.
      if ((e as { code?: string }).code === "23505" || /unique/i.test((e as Error).message)) continue;
      throw e;
    }
  }
  return null;
}

async function heldTask(prisma: PrismaClient, taskId: string, userId: string, projectId?: string) {
  const task = await prisma.task.findUnique({ where: { id: taskId }, include: { templateVersion: true, group: { select: { lockMinutes: true, readersPerCase: true, disagreement: true, review: true } } } });
  if (!task || (projectId && task.projectId !== projectId)) throw notFound("No such task.");
  return task;
}

/** Takes a free task or renews the caller's lock. Refused when someone else holds a live lock. */
export async function renewLock(prisma: PrismaClient, taskId: string, userId: string, projectId?: string) {
  const task = await heldTask(prisma, taskId, userId, projectId);
  const minutes = task.group?.lockMinutes ?? 30;
  const expires = new Date(Date.now() + minutes * 60_000);
  const r = await prisma.task.updateMany({
    where: {
      id: taskId,
      OR: [{ state: "queued", OR: [{ assigneeId: null }, { assigneeId: userId }] }, { state: "locked", readerId: userId }, { state: "locked", lockExpiresAt: { lt: new Date() } }],
    },
    data: { state: "locked", readerId: userId, lockExpiresAt: expires, startedAt: task.startedAt ?? new Date() },
  });
  if (r.count === 0) throw conflict(task.state === "locked" ? "Another reader holds this task's lock." : `This task is ${task.state.replace(/_/g, " ")}; it cannot be taken.`);
  return { lockExpiresAt: expires };
}

/** Saves the caller's draft (types checked), taking or renewing the lock. */
export async function saveDraft(prisma: PrismaClient, taskId: string, userId: string, input: unknown, projectId?: string) {
  const s = Submission.parse(input);
  const task = await heldTask(prisma, taskId, userId, projectId);
  const lock = await renewLock(prisma, taskId, userId, projectId);
  if (task.templateVersion.format === "atrium") {
    const { errors } = validateSubmission(TaskTemplate.parse(task.templateVersion.definition), s, "draft");
    if (errors.length) throw bad(errors.map((e) => `${e.field}: ${e.message}`).join("; "));
  }
  await prisma.$transaction([
    prisma.taskDraft.upsert({
      where: { taskId_userId: { taskId, userId } },
      create: { taskId, userId, answers: s.answers as Prisma.InputJsonValue, annotations: s.annotations as unknown as Prisma.InputJsonValue },
      update: { answers: s.answers as Prisma.InputJsonValue, annotations: s.annotations as unknown as Prisma.InputJsonValue },
    }),
    prisma.task.update({ where: { id: taskId }, data: { timeSpentMs: { increment: s.elapsedMs ?? 0 } } }),
  ]);
  return lock;
}

export class SubmitError extends TRPCError {
  constructor(readonly fieldErrors: { field: string; message: string }[]) {
    super({ code: "BAD_REQUEST", message: `The answers are not complete or not valid: ${fieldErrors.map((e) => `${e.field}: ${e.message}`).join("; ")}` });
  }
}

/** Submits answers: validated against the task's template version, stored as a new result version. */
export async function submit(prisma: PrismaClient, taskId: string, userId: string, input: unknown, projectId?: string) {
  const s = Submission.parse(input);
  const task = await heldTask(prisma, taskId, userId, projectId);
  let clean = s;
  if (task.templateVersion.format === "atrium") {
    const v = validateSubmission(TaskTemplate.parse(task.templateVersion.definition), s, "submit");
    if (v.errors.length) throw new SubmitError(v.errors);
    clean = v.clean;
  }
  await renewLock(prisma, taskId, userId, projectId);
  const done = !task.group?.review;
  const out = await prisma.$transaction(async (tx) => {
    const last = await tx.taskResult.findFirst({ where: { taskId }, orderBy: { version: "desc" }, select: { version: true } });
    const version = (last?.version ?? 0) + 1;
    await tx.taskResult.create({ data: { taskId, version, authorId: userId, answers: clean.answers as Prisma.InputJsonValue, annotations: clean.annotations as unknown as Prisma.InputJsonValue, timeSpentMs: task.timeSpentMs + (s.elapsedMs ?? 0) } });
    await tx.task.update({ where: { id: taskId }, data: { state: done ? "done" : "submitted", lockExpiresAt: null, submittedAt: new Date(), doneAt: done ? new Date() : null, timeSpentMs: { increment: s.elapsedMs ?? 0 } } });
    await tx.taskDraft.deleteMany({ where: { taskId, userId } });
    await writeAudit(tx, { projectId: task.projectId, actorId: userId, action: "task.submit", targetType: "Task", targetId: taskId, after: { version } });
    return { version };
  });
  const adjudicationId = task.kind === "read" && task.groupId ? await maybeAdjudicate(prisma, task.groupId, task.caseKey) : null;
  // Its callbacks: the workflow's (once its case is done), its callback_url, its group's.
  if (done && !adjudicationId) await (await import("./callbacks")).onTaskDone(prisma, taskId);
  return { ...out, state: done ? "done" : "submitted", adjudicationId };
}

/**
 * When every read of a case is in and they disagree, creates the case's one adjudication task
 * (a transaction-scoped advisory lock on the case makes "exactly one" hold under concurrent submits).
 */
export async function maybeAdjudicate(prisma: PrismaClient, groupId: string, caseKey: string): Promise<string | null> {
  return prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(hashtext($1))`, `adj:${groupId}:${caseKey}`);
    const group = await tx.taskGroup.findUniqueOrThrow({ where: { id: groupId }, include: { templateVersion: true } });
    if (group.readersPerCase < 2) return null;
    const reads = await tx.task.findMany({ where: { groupId, caseKey, kind: "read" }, include: { results: { orderBy: { version: "desc" }, take: 1 } } });
    if (reads.length < group.readersPerCase || reads.some((r) => r.results.length === 0 || !["done", "submitted"].includes(r.state))) return null;
    if (await tx.task.findFirst({ where: { groupId, caseKey, kind: "adjudication" }, select: { id: true } })) return null;
    const template = TaskTemplate.parse(group.templateVersion.definition);
    const disagreements = findDisagreements(
      template,
      DisagreementRule.parse(group.disagreement),
      reads.map((r) => ({ readerId: r.readerId ?? "", answers: r.results[0]!.answers as never, annotations: r.results[0]!.annotations as never })),
    );
    if (disagreements.length === 0) return null;
    const first = reads[0]!;
    const adj = await tx.task.create({
      data: {
        projectId: group.projectId, groupId, templateVersionId: group.templateVersionId, kind: "adjudication", caseKey, experimentId: first.experimentId, priority: 10,
        resolution: first.resolution ?? undefined, adjudicates: { tasks: reads.map((r) => r.id), disagreements } as unknown as Prisma.InputJsonValue,
      },
    });
    await writeAudit(tx, { projectId: group.projectId, actorId: null, action: "task.adjudication.create", targetType: "Task", targetId: adj.id, after: { disagreements: disagreements.length } });
    return adj.id;
  });
}

/**
 * An owner's review of a submitted read (groups with review): accepted makes it done (its
 * callbacks run); returned gives it back to its reader (assigned to them, their answers restored
 * as a draft) with the comment, and their next submit adds a result version. Audited.
 */
export async function reviewTask(prisma: PrismaClient, taskId: string, ownerId: string, decision: "accepted" | "returned", comment: string, projectId: string) {
  const task = await prisma.task.findUnique({ where: { id: taskId }, select: { id: true, projectId: true, state: true, readerId: true, group: { select: { review: true } }, results: { orderBy: { version: "desc" }, take: 1, select: { version: true, answers: true, annotations: true } } } });
  if (!task || task.projectId !== projectId) throw notFound("No such task.");
  if (task.state !== "submitted") throw conflict(`Only a submitted read waits for review (this task is ${task.state.replace(/_/g, " ")}).`);
  const now = new Date();
  await prisma.$transaction(async (tx) => {
    const n = await tx.task.updateMany({
      where: { id: taskId, state: "submitted" },
      data:
        decision === "accepted"
          ? { state: "done", doneAt: now, review: "accepted", reviewComment: comment || null }
          : { state: "queued", review: "returned", reviewComment: comment, assigneeId: task.readerId, readerId: null, lockExpiresAt: null },
    });
    if (!n.count) throw conflict("The task changed meanwhile; reload.");
    const last = task.results[0];
    if (decision === "returned" && task.readerId && last) {
      await tx.taskDraft.upsert({
        where: { taskId_userId: { taskId, userId: task.readerId } },
        create: { taskId, userId: task.readerId, answers: last.answers as Prisma.InputJsonValue, annotations: last.annotations as Prisma.InputJsonValue },
        update: { answers: last.answers as Prisma.InputJsonValue, annotations: last.annotations as Prisma.InputJsonValue },
      });
    }
    await writeAudit(tx, { projectId, actorId: ownerId, action: "task.review", targetType: "Task", targetId: taskId, before: { state: "submitted" }, after: { decision, version: last?.version ?? null } });
  });
  if (decision === "accepted") await (await import("./callbacks")).onTaskDone(prisma, taskId);
  return { state: decision === "accepted" ? "done" : "queued" };
}

/** Gives the task back to the pool (own lock; owners may release anyone's). */
export async function release(prisma: PrismaClient, taskId: string, userId: string, isOwner: boolean, projectId?: string) {
  const task = await heldTask(prisma, taskId, userId, projectId);
  if (task.state !== "locked") throw conflict(`This task is ${task.state}, not locked.`);
  if (task.readerId !== userId && !isOwner) throw new TRPCError({ code: "FORBIDDEN", message: "Only the reader holding the lock (or an owner) may release it." });
  await prisma.$transaction(async (tx) => {
    await tx.task.update({ where: { id: taskId }, data: { state: "queued", readerId: null, lockExpiresAt: null } });
    await writeAudit(tx, { projectId: task.projectId, actorId: userId, action: "task.release", targetType: "Task", targetId: taskId });
  });
  return { ok: true };
}

/** Skips a task with a reason (taking it if free). */
export async function skip(prisma: PrismaClient, taskId: string, userId: string, reason: string, projectId?: string) {
  if (!reason.trim()) throw bad("Say why the task is skipped.");
  const task = await heldTask(prisma, taskId, userId, projectId);
  await renewLock(prisma, taskId, userId, projectId);
  await prisma.$transaction(async (tx) => {
    await tx.task.update({ where: { id: taskId }, data: { state: "skipped", skipReason: reason.slice(0, 1000), lockExpiresAt: null } });
    await writeAudit(tx, { projectId: task.projectId, actorId: userId, action: "task.skip", targetType: "Task", targetId: taskId, after: { reason: reason.slice(0, 1000) } });
  });
  return { ok: true };
}

/** A task with its template and the caller's own draft (readers see only their own drafts). */
export async function getTask(prisma: PrismaClient, taskId: string, userId: string, projectId?: string) {
  const task = await prisma.task.findUnique({
    where: { id: taskId },
    include: { templateVersion: { include: { template: { select: { name: true } } } }, drafts: { where: { userId } }, results: { orderBy: { version: "desc" }, take: 1 } },
  });
  if (!task || (projectId && task.projectId !== projectId)) throw notFound("No such task.");
  const { drafts, templateVersion, results, ...rest } = task;
  const mine = results[0] && (results[0].authorId === userId) ? results[0] : null;
  return {
    ...rest,
    template: { name: templateVersion.template.name, version: templateVersion.version, format: templateVersion.format, definition: templateVersion.definition },
    draft: drafts[0] ? { answers: drafts[0].answers, annotations: drafts[0].annotations, updatedAt: drafts[0].updatedAt } : null,
    result: mine ? { version: mine.version, answers: mine.answers, annotations: mine.annotations } : null,
  };
}

/** The groups of a project a user may read from, with counts. */
export async function queues(prisma: PrismaClient, userId: string) {
  const groups = await prisma.taskGroup.findMany({
    where: { project: { members: { some: { userId, role: { in: ["member", "owner"] } } } }, OR: [{ pool: { none: {} } }, { pool: { some: { userId, weight: { gt: 0 } } } }] },
    select: { id: true, label: true, projectId: true, dueAt: true },
    orderBy: { createdAt: "desc" },
  });
  const ids = groups.map((g) => g.id);
  const [counts, mine] = await Promise.all([
    prisma.task.groupBy({ by: ["groupId", "state"], where: { groupId: { in: ids } }, _count: true }),
    prisma.task.findMany({ where: { groupId: { in: ids }, readerId: userId }, select: { id: true, number: true, state: true, groupId: true, updatedAt: true, lockExpiresAt: true }, orderBy: { updatedAt: "desc" }, take: 200 }),
  ]);
  const now = Date.now();
  return groups.map((g) => {
    const my = mine.filter((t) => t.groupId === g.id);
    const held = my.filter((t) => t.state === "locked" && t.lockExpiresAt && +t.lockExpiresAt > now);
    return {
      ...g,
      counts: Object.fromEntries(counts.filter((c) => c.groupId === g.id).map((c) => [c.state, c._count])) as Record<string, number>,
      mine: held.length,
      myLocked: held[0]?.id ?? null,
      history: my.slice(0, 10).map(({ id, number, state, updatedAt }) => ({ id, number, state, updatedAt })),
    };
  });
}
