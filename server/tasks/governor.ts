// The Study Governor's `create_task` / `create_taskgroup` callbacks create tasks through this adapter
// (pass `governorTaskAdapter(prisma)` as `createTasks` to servicesFromEnv), and a finished case
// resolves its callback execution, as the TaskManager's callback_url did:
//
//   callback_arguments: {template: NAME}            a task template of the project (Study Governor's
//                       {task_info: {template: NAME,  task_info.template and distribute_in_group are
//                        distribute_in_group: G}}     read the same way); `task_base` files are not used
//                       group: LABEL                 the task group (default "Workflow: NAME"; made once)
//                       readers: N                   reads per case for a new group (default 1)
//
// The tasks remember the execution ("governor:<execution id>" as tracking id, its URL as callback
// URL). When every read of the case is done — and its adjudication, when the reads disagreed — the
// execution finishes with success and the final answers as result_values (with task_ids and
// task_uri), so a `variable_map` such as {qc_passed: /qc_passed} reads the reader's answer.
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { lastPathSegment, type TaskRequest } from "@/lib/governor/callbacks";
import { finalAnswer } from "@/lib/governor/export";
import { DEFAULT_WORKFLOW_QC_TEMPLATE, DEFAULT_WORKFLOW_QC_TEMPLATE_NAME } from "@/lib/tasks/demo";
import { resolveTemplate } from "@/lib/tasks/match";
import { TaskTemplate } from "@/lib/tasks/template";
import { writeAudit } from "@/server/audit";
import { childLog } from "@/lib/log";
import { experimentSeries, saveTemplate } from "./ops";
import { experimentOutputs } from "./outputs";

const log = childLog("tasks-governor");
const TRACKING = "governor:";

function argsOf(raw: Record<string, unknown>) {
  const info = raw.task_info && typeof raw.task_info === "object" ? (raw.task_info as Record<string, unknown>) : {};
  const template = String(raw.template ?? info.template ?? "").trim();
  const group = String(raw.group ?? info.distribute_in_group ?? "").trim();
  const readers = Math.min(10, Math.max(1, Math.floor(Number(raw.readers ?? 1)) || 1));
  return { template, group, readers };
}

async function latestVersion(prisma: PrismaClient, projectId: string, name: string) {
  const t = await prisma.taskTemplate.findUnique({ where: { projectId_name: { projectId, name } }, select: { versions: { orderBy: { version: "desc" }, take: 1, select: { id: true, format: true, definition: true } } } });
  return t?.versions[0] ?? null;
}

export function governorTaskAdapter(prisma: PrismaClient) {
  return async (req: TaskRequest): Promise<{ taskIds: string[]; uri?: string }> => {
    const projectId = req.projectSlug;
    const experimentId = lastPathSegment(req.experimentUrl);
    const executionId = lastPathSegment(req.callbackUrl);
    const a = argsOf(req.arguments);
    if (!a.template) throw new Error("create_task needs callback_arguments.template: the name of a task template of the project (the Tasks tab lists them)");
    let version = await latestVersion(prisma, projectId, a.template);
    if (!version && a.template === DEFAULT_WORKFLOW_QC_TEMPLATE_NAME) {
      await saveTemplate(prisma, projectId, null, a.template, DEFAULT_WORKFLOW_QC_TEMPLATE).catch(() => undefined);
      version = await latestVersion(prisma, projectId, a.template);
    }
    if (!version) throw new Error(`the project has no task template '${a.template}': create it on the Tasks tab, or name one that exists in callback_arguments.template`);
    if (version.format !== "atrium") throw new Error(`the task template '${a.template}' is a ViewR template (TaskManager API); a workflow task needs an Atrium template with questions`);
    const template = TaskTemplate.parse(version.definition);
    const series = (await experimentSeries(prisma, projectId, [experimentId])).get(experimentId) ?? [];
    const outputs = (await experimentOutputs(prisma, projectId, [experimentId])).get(experimentId) ?? [];
    const resolution = resolveTemplate(template, series, outputs);
    if (resolution.cannotBeDone) throw new Error(`the task cannot be done for this experiment: ${resolution.cannotBeDone}`);

    const label = a.group || `Workflow: ${a.template}`;
    const group =
      (await prisma.taskGroup.findFirst({ where: { projectId, label, templateVersion: { template: { name: a.template } } }, orderBy: { createdAt: "desc" }, select: { id: true, readersPerCase: true, templateVersionId: true } })) ??
      (await prisma.taskGroup.create({ data: { projectId, label, templateVersionId: version.id, readersPerCase: a.readers, distribution: "pool" }, select: { id: true, readersPerCase: true, templateVersionId: true } }));
    const created = await prisma.$transaction(async (tx) => {
      const ids: string[] = [];
      for (let r = 0; r < group.readersPerCase; r++) {
        const t = await tx.task.create({
          data: {
            projectId,
            groupId: group.id,
            templateVersionId: group.templateVersionId,
            caseKey: `${experimentId}:${executionId}`,
            experimentId,
            readerIndex: r,
            resolution: resolution as unknown as Prisma.InputJsonValue,
            trackingId: `${TRACKING}${executionId}`,
            callbackUrl: req.callbackUrl,
            generatorUrl: req.callbackUrl,
            applicationName: "atrium-workflow",
          },
          select: { id: true },
        });
        ids.push(t.id);
      }
      await writeAudit(tx, { projectId, actorId: null, action: "task.create", targetType: "TaskGroup", targetId: group.id, after: { tasks: ids.length, by: "workflow", execution: executionId } });
      return ids;
    });
    return { taskIds: created, uri: `/tasks/${created[0]}` };
  };
}

/**
 * After a task is done: when it was made by a workflow callback and its whole case is done (every
 * read, and the adjudication the reads called for), resolves the callback execution with the
 * final answers. Safe to call for any task and more than once (a resolved execution is a 409, kept quiet).
 */
export async function resolveWorkflowCallback(prisma: PrismaClient, taskId: string): Promise<"resolved" | "waiting" | "already" | "not-workflow"> {
  const task = await prisma.task.findUnique({ where: { id: taskId }, select: { trackingId: true, groupId: true, caseKey: true } });
  if (!task?.groupId) return "not-workflow";
  // An adjudication task carries no tracking id: its case's reads do.
  const reads = await prisma.task.findMany({
    where: { groupId: task.groupId, caseKey: task.caseKey, kind: "read" },
    select: { id: true, state: true, trackingId: true, results: { orderBy: { version: "desc" }, take: 1, select: { answers: true } } },
  });
  const tracking = task.trackingId ?? reads.find((r) => r.trackingId)?.trackingId ?? null;
  if (!tracking?.startsWith(TRACKING)) return "not-workflow";
  if (reads.some((r) => r.state !== "done")) return "waiting";
  const adjudication = await prisma.task.findFirst({ where: { groupId: task.groupId, caseKey: task.caseKey, kind: "adjudication" }, select: { state: true, results: { orderBy: { version: "desc" }, take: 1, select: { answers: true } } } });
  if (adjudication && adjudication.state !== "done") return "waiting";
  const answersOf = (r: { results: { answers: Prisma.JsonValue }[] }) => (r.results[0]?.answers ?? {}) as Record<string, unknown>;
  const facts = { template: null, reads: reads.map(answersOf), adjudicated: adjudication ? answersOf(adjudication) : null };
  const questions = new Set([...facts.reads.flatMap((x) => Object.keys(x)), ...Object.keys(facts.adjudicated ?? {})]);
  const values: Record<string, unknown> = Object.fromEntries([...questions].map((q) => [q, finalAnswer(facts, q)]));
  values.task_ids = reads.map((r) => r.id);
  values.task_uri = `/tasks/${reads[0]!.id}`;
  const executionId = tracking.slice(TRACKING.length);
  const { updateExecution, ProtocolError } = await import("@/server/governor/engine");
  try {
    await updateExecution(prisma, executionId, { status: "finished", result: "success", result_values: values, result_log: `${reads.length} read(s)${adjudication ? " and an adjudication" : ""} done` });
    return "resolved";
  } catch (e) {
    if (e instanceof ProtocolError) {
      log.info({ taskId, executionId, status: e.status }, "the workflow callback was already resolved");
      return "already";
    }
    throw e;
  }
}
