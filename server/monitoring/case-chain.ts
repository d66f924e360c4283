// Reads one experiment's chain (issue #13): its intake study and instances, archive, forwards,
// pipeline runs, tasks and workflow, for lib/monitoring/case-chain.ts to put in order. A handful of
// indexed queries, whatever the project's size.
import type { PrismaClient } from "@/server/db/generated/client";
import { caseChain, type CaseFacts } from "@/lib/monitoring/case-chain";
import { workflowOf } from "@/server/governor/engine";

export async function caseChainOf(prisma: PrismaClient, projectId: string, experimentId: string) {
  const e = await prisma.archiveExperiment.findFirst({ where: { id: experimentId, projectId }, select: { id: true, label: true, intakeStudyId: true, subject: { select: { label: true } } } });
  if (!e) return null;
  const studyId = e.intakeStudyId;
  const [study, counts, lastDeid, archive, forwards, runs, tasks, gov] = await Promise.all([
    studyId ? prisma.intakeStudy.findUnique({ where: { id: studyId }, select: { firstInstanceAt: true, lastInstanceAt: true, stableAt: true } }) : null,
    studyId ? prisma.receivedInstance.groupBy({ by: ["status"], where: { studyId }, _count: { _all: true } }) : [],
    studyId ? prisma.receivedInstance.findFirst({ where: { studyId, status: "deidentified" }, orderBy: { updatedAt: "desc" }, select: { updatedAt: true } }) : null,
    studyId ? prisma.studyArchive.findUnique({ where: { studyId }, select: { state: true, targetKind: true, archivedAt: true, archivedInstances: true, lastError: true, queuedAt: true } }) : null,
    studyId
      ? prisma.forwardDelivery.groupBy({ by: ["destinationId", "outcome"], where: { studyId, outcome: { not: "filtered" } }, _count: { _all: true }, _max: { updatedAt: true } })
      : [],
    prisma.pipelineRun.findMany({ where: { projectId, experimentIds: { has: experimentId } }, orderBy: { createdAt: "asc" }, take: 100, select: { id: true, pipelineId: true, pipelineVersion: true, state: true, createdAt: true, endedAt: true, error: true, startedBy: true } }),
    prisma.task.findMany({ where: { projectId, experimentId }, orderBy: { createdAt: "asc" }, take: 100, select: { id: true, number: true, kind: true, state: true, createdAt: true, doneAt: true, skipReason: true, templateVersion: { select: { template: { select: { name: true } } } } } }),
    prisma.governorExperiment.findUnique({ where: { experimentId }, select: { workflowId: true, state: true, workflow: { select: { label: true, version: true } }, actions: { orderBy: { revision: "asc" }, select: { toState: true, startTime: true, cause: true } } } }),
  ]);
  const destinations = new Map(
    forwards.length ? (await prisma.forwardDestination.findMany({ where: { id: { in: [...new Set(forwards.map((f) => f.destinationId))] } }, select: { id: true, name: true } })).map((d) => [d.id, d.name]) : [],
  );
  const byDestination = new Map<string, CaseFacts["forwards"][number]>();
  for (const f of forwards) {
    const d = byDestination.get(f.destinationId) ?? { destination: destinations.get(f.destinationId) ?? "a destination", sent: 0, failed: 0, lastAt: null };
    if (f.outcome === "failed") d.failed += f._count._all;
    else d.sent += f._count._all;
    if (f._max.updatedAt && (!d.lastAt || f._max.updatedAt > d.lastAt)) d.lastAt = f._max.updatedAt;
    byDestination.set(f.destinationId, d);
  }
  let final = false;
  if (gov?.state) final = (await workflowOf(prisma, gov.workflowId)).states.find((s) => s.label === gov.state)?.transitions.length === 0;
  const facts: CaseFacts = {
    projectId,
    experimentId,
    intake: study ? { ...study, instances: Object.fromEntries(counts.map((c) => [c.status, c._count._all])), lastDeidentifiedAt: lastDeid?.updatedAt ?? null } : null,
    archive,
    forwards: [...byDestination.values()],
    runs: runs.map((r) => ({ id: r.id, pipeline: `${r.pipelineId} ${r.pipelineVersion}`, state: r.state, createdAt: r.createdAt, endedAt: r.endedAt, error: r.error, startedBy: r.startedBy })),
    tasks: tasks.map((t) => ({ id: t.id, number: t.number, template: t.templateVersion.template.name, kind: t.kind, state: t.state, createdAt: t.createdAt, doneAt: t.doneAt, skipReason: t.skipReason })),
    workflow: gov ? { label: gov.workflow.label, version: gov.workflow.version, state: gov.state, final, actions: gov.actions.map((a) => ({ state: a.toState, at: a.startTime, cause: a.cause })) } : null,
  };
  return { experiment: { id: e.id, label: e.label, subject: e.subject.label }, steps: caseChain(facts) };
}
