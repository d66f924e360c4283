// What the portal's task pages read: the task page's view of one task (with the experiment's
// pseudonymous labels and DICOMweb references of its matched scans), a project's templates and
// groups with progress, a group's results (for review and export) and agreement per question.
import { TRPCError } from "@trpc/server";
import type { PrismaClient } from "@/server/db/generated/client";
import { TaskTemplate } from "@/lib/tasks/template";
import type { Resolution } from "@/lib/tasks/match";
import type { Annotation, AnswerValue } from "@/lib/tasks/answers";
import { agreementPerQuestion, resultsCsv, resultsJson, type ResultRow } from "@/lib/tasks/results";
import { getTask } from "./ops";

/** One task for its page: the task (own draft only), its experiment's labels, its group, and for adjudications the reads. */
export async function taskView(prisma: PrismaClient, taskId: string, userId: string, projectId: string, opts: { reviewer?: boolean } = {}) {
  const task = await getTask(prisma, taskId, userId, projectId);
  // A reviewer (owner) sees the reader's latest result read-only: answers and annotations.
  if (opts.reviewer && !task.result) {
    const last = await prisma.taskResult.findFirst({ where: { taskId }, orderBy: { version: "desc" }, select: { version: true, answers: true, annotations: true } });
    if (last) task.result = last;
  }
  const [experiment, group] = await Promise.all([
    task.experimentId
      ? prisma.archiveExperiment.findUnique({ where: { id: task.experimentId }, select: { id: true, label: true, studyInstanceUid: true, subject: { select: { label: true } } } })
      : null,
    task.groupId ? prisma.taskGroup.findUnique({ where: { id: task.groupId }, select: { id: true, label: true, readersPerCase: true, review: true, lockMinutes: true } }) : null,
  ]);
  let reads: { taskId: string; reader: string | null; answers: Record<string, AnswerValue>; annotations: Annotation[] }[] = [];
  if (task.kind === "adjudication" && task.adjudicates) {
    const ids = (task.adjudicates as { tasks?: string[] }).tasks ?? [];
    const rows = await prisma.task.findMany({ where: { id: { in: ids }, projectId }, include: { reader: { select: { email: true, name: true } }, results: { orderBy: { version: "desc" }, take: 1 } } });
    reads = rows.map((r) => ({ taskId: r.id, reader: r.reader?.name ?? r.reader?.email ?? null, answers: (r.results[0]?.answers ?? {}) as Record<string, AnswerValue>, annotations: (r.results[0]?.annotations ?? []) as Annotation[] }));
  }
  return {
    ...task,
    resolution: (task.resolution ?? null) as Resolution | null,
    experiment: experiment ? { id: experiment.id, label: experiment.label, subject: experiment.subject.label, studyInstanceUid: experiment.studyInstanceUid } : null,
    group,
    mine: task.readerId === userId,
    reviewer: Boolean(opts.reviewer),
    reads,
  };
}

/** The project's templates: latest version's source, and how many versions. */
export async function templatesOf(prisma: PrismaClient, projectId: string) {
  const rows = await prisma.taskTemplate.findMany({
    where: { projectId },
    include: { versions: { orderBy: { version: "desc" }, take: 1, select: { id: true, version: true, source: true, format: true, createdAt: true } } },
    orderBy: { name: "asc" },
  });
  return rows.map((t) => ({ id: t.id, name: t.name, latest: t.versions[0] ?? null }));
}

/** The project's task groups with counts per state and per reader. */
export async function groupsOf(prisma: PrismaClient, projectId: string) {
  const groups = await prisma.taskGroup.findMany({
    where: { projectId },
    select: { id: true, label: true, readersPerCase: true, distribution: true, dueAt: true, review: true, createdAt: true, templateVersion: { select: { version: true, template: { select: { name: true } } } } },
    orderBy: { createdAt: "desc" },
  });
  const ids = groups.map((g) => g.id);
  const [counts, perReader] = await Promise.all([
    prisma.task.groupBy({ by: ["groupId", "state"], where: { groupId: { in: ids } }, _count: true }),
    prisma.task.groupBy({ by: ["groupId", "readerId"], where: { groupId: { in: ids }, state: { in: ["done", "submitted"] } }, _count: true, _sum: { timeSpentMs: true } }),
  ]);
  const users = await prisma.user.findMany({ where: { id: { in: perReader.map((r) => r.readerId).filter((x): x is string => Boolean(x)) } }, select: { id: true, email: true, name: true } });
  const who = new Map(users.map((u) => [u.id, u.name ?? u.email]));
  return groups.map((g) => {
    const byState = Object.fromEntries(counts.filter((c) => c.groupId === g.id).map((c) => [c.state, c._count])) as Record<string, number>;
    const total = Object.values(byState).reduce((a, b) => a + b, 0);
    const finished = (byState.done ?? 0) + (byState.skipped ?? 0) + (byState.cannot_be_done ?? 0) + (byState.aborted ?? 0);
    return {
      id: g.id, label: g.label, readersPerCase: g.readersPerCase, distribution: g.distribution, dueAt: g.dueAt, review: g.review, createdAt: g.createdAt,
      template: `${g.templateVersion.template.name} v${g.templateVersion.version}`,
      counts: byState, total, finished,
      readers: perReader.filter((r) => r.groupId === g.id && r.readerId).map((r) => ({ reader: who.get(r.readerId!) ?? "?", tasks: r._count, timeSpentMs: r._sum.timeSpentMs ?? 0 })),
    };
  });
}

async function groupWithTemplate(prisma: PrismaClient, projectId: string, groupId: string) {
  const g = await prisma.taskGroup.findFirst({ where: { id: groupId, projectId }, include: { templateVersion: true } });
  if (!g) throw new TRPCError({ code: "NOT_FOUND", message: "No such task group in this project." });
  if (g.templateVersion.format !== "atrium") throw new TRPCError({ code: "BAD_REQUEST", message: "This group's template is a ViewR template; its results are opaque to Atrium." });
  return { group: g, template: TaskTemplate.parse(g.templateVersion.definition) };
}

/** The group's tasks with their latest result, one row per task. */
export async function groupResults(prisma: PrismaClient, projectId: string, groupId: string): Promise<{ template: TaskTemplate; rows: ResultRow[]; group: { id: string; label: string; templateVersion: number } }> {
  const { group, template } = await groupWithTemplate(prisma, projectId, groupId);
  const tasks = await prisma.task.findMany({
    where: { groupId },
    include: { reader: { select: { email: true } }, results: { orderBy: { version: "desc" }, take: 1 } },
    orderBy: [{ number: "asc" }],
  });
  const exps = await prisma.archiveExperiment.findMany({ where: { id: { in: [...new Set(tasks.map((t) => t.experimentId).filter((x): x is string => Boolean(x)))] } }, select: { id: true, label: true, subject: { select: { label: true } } } });
  const exp = new Map(exps.map((e) => [e.id, e]));
  const rows = tasks.map((t): ResultRow => {
    const r = t.results[0];
    const e = t.experimentId ? exp.get(t.experimentId) : undefined;
    return {
      taskNumber: t.number, taskId: t.id, kind: t.kind, caseKey: t.caseKey, experimentLabel: e?.label ?? null, subjectLabel: e?.subject.label ?? null, readerIndex: t.readerIndex,
      reader: t.reader?.email ?? null, state: t.state, version: r?.version ?? null, submittedAt: t.submittedAt?.toISOString() ?? null, timeSpentSeconds: Math.round(t.timeSpentMs / 100) / 10,
      answers: (r?.answers ?? {}) as Record<string, AnswerValue>, annotationCount: Array.isArray(r?.annotations) ? (r.annotations as unknown[]).length : 0,
    };
  });
  return { template, rows, group: { id: group.id, label: group.label, templateVersion: group.templateVersion.version } };
}

export async function groupExport(prisma: PrismaClient, projectId: string, groupId: string, format: "csv" | "json") {
  const { template, rows, group } = await groupResults(prisma, projectId, groupId);
  const base = group.label.replace(/[^A-Za-z0-9_-]+/g, "_").slice(0, 60) || "tasks";
  return format === "csv"
    ? { filename: `${base}.csv`, contentType: "text/csv", body: resultsCsv(template, rows) }
    : { filename: `${base}.json`, contentType: "application/json", body: JSON.stringify(resultsJson(template, group, rows), null, 2) };
}

/** Agreement per question over the cases whose reads are all in (reads only, latest versions). */
export async function groupAgreement(prisma: PrismaClient, projectId: string, groupId: string) {
  const { template, rows } = await groupResults(prisma, projectId, groupId);
  const byCase = new Map<string, Record<string, AnswerValue>[]>();
  for (const r of rows) {
    if (r.kind !== "read" || r.version === null) continue;
    byCase.set(r.caseKey, [...(byCase.get(r.caseKey) ?? []), r.answers]);
  }
  const cases = [...byCase.values()].filter((c) => c.length >= 2);
  return { cases: cases.length, questions: agreementPerQuestion(template, cases) };
}
