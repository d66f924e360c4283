// Expected versus received (issue #16), on the database: the project's protocol (saved by owners,
// audited), the reconciliation of every subject for the Completeness view, and the facts one
// experiment's workflow conditions read. The rules are lib/governor/expected.ts.
import type { PrismaClient } from "@/server/db/generated/client";
import {
  completenessSummary,
  experimentCompleteness,
  parseExpectedProtocol,
  reconcileSubject,
  type ExpectedProtocol,
  type ReceivedExperiment,
  type SubjectReconciliation,
  type VisitStatus,
} from "@/lib/governor/expected";
import { writeAudit } from "@/server/audit";
import { queueScheduler, type GovernorScheduler } from "./engine";

const experimentSelect = { id: true, label: true, studyDescription: true, createdAt: true, scans: { select: { modality: true, seriesDescription: true, instanceCount: true } } } as const;

type Row = { id: string; label: string; studyDescription: string | null; createdAt: Date; scans: ReceivedExperiment["scans"] };
const received = (e: Row): ReceivedExperiment => ({ id: e.id, label: e.label, studyDescription: e.studyDescription, receivedAt: e.createdAt, scans: e.scans });

export async function protocolOf(prisma: PrismaClient, projectId: string) {
  const row = await prisma.expectedProtocol.findUnique({ where: { projectId }, select: { source: true, definition: true, updatedAt: true, updatedById: true } });
  return row ? { source: row.source, protocol: row.definition as unknown as ExpectedProtocol, updatedAt: row.updatedAt } : null;
}

/**
 * Saves the project's protocol (ExpectedProtocolError with lines when it does not parse), audited,
 * and queues an evaluation of the project's experiments: `experiment.complete` may have changed.
 */
export async function saveProtocol(prisma: PrismaClient, projectId: string, source: string, actorId: string | null, scheduler: GovernorScheduler = queueScheduler) {
  const protocol = parseExpectedProtocol(source);
  await prisma.$transaction(async (tx) => {
    const before = await tx.expectedProtocol.findUnique({ where: { projectId }, select: { definition: true } });
    await tx.expectedProtocol.upsert({
      where: { projectId },
      create: { projectId, source, definition: protocol as never, updatedById: actorId },
      update: { source, definition: protocol as never, updatedById: actorId },
    });
    await writeAudit(tx, {
      projectId,
      actorId,
      action: "governor.expected.save",
      targetType: "project",
      targetId: projectId,
      ...(before ? { before: { visits: (before.definition as unknown as ExpectedProtocol).visits.map((v) => v.label) } } : {}),
      after: { visits: protocol.visits.map((v) => v.label), scans: protocol.visits.reduce((n, v) => n + v.scans.length, 0) },
    });
  });
  const governed = await prisma.governorExperiment.findMany({ where: { projectId, paused: false }, select: { id: true }, take: 100_000 });
  for (const g of governed) await scheduler.evaluate(g.id, 0, "event:protocol");
  return { protocol, evaluations: governed.length };
}

/** The project's subjects reconciled (by label; filtered by label and by a visit status), with the counts of all. */
export async function reconcileProject(prisma: PrismaClient, projectId: string, o: { search?: string; status?: VisitStatus; limit: number; now?: Date }) {
  const p = await protocolOf(prisma, projectId);
  if (!p) return { protocol: null, summary: null, subjects: [] as SubjectReconciliation[], total: 0 };
  const subjects = await prisma.archiveSubject.findMany({
    where: { projectId, ...(o.search?.trim() ? { label: { contains: o.search.trim(), mode: "insensitive" as const } } : {}) },
    orderBy: { label: "asc" },
    select: { label: true, experiments: { select: experimentSelect } },
  });
  const now = o.now ?? new Date();
  const all = subjects.map((s) => reconcileSubject(p.protocol, s.label, s.experiments.map(received), now));
  const shown = o.status ? all.filter((s) => s.visits.some((v) => v.status === o.status)) : all;
  return { protocol: { source: p.source, updatedAt: p.updatedAt, visits: p.protocol.visits.map((v) => v.label) }, summary: completenessSummary(all), subjects: shown.slice(0, o.limit), total: shown.length };
}

/** `experiment.complete`, `experiment.visit` and `experiment.missing` for one archived experiment. */
export async function completenessFacts(prisma: PrismaClient, experimentId: string, now = new Date()) {
  const exp = await prisma.archiveExperiment.findUnique({ where: { id: experimentId }, select: { projectId: true, subjectId: true, subject: { select: { label: true } } } });
  if (!exp) return experimentCompleteness(null, experimentId);
  return completenessOf(prisma, { id: experimentId, projectId: exp.projectId, subjectId: exp.subjectId, subjectLabel: exp.subject.label }, now);
}

/** The same, for an experiment whose project and subject the caller has read already (the governor's facts). */
export async function completenessOf(prisma: PrismaClient, exp: { id: string; projectId: string; subjectId: string; subjectLabel: string }, now = new Date()) {
  const p = await protocolOf(prisma, exp.projectId);
  if (!p) return experimentCompleteness(null, exp.id);
  const siblings = await prisma.archiveExperiment.findMany({ where: { subjectId: exp.subjectId }, select: experimentSelect });
  return experimentCompleteness(reconcileSubject(p.protocol, exp.subjectLabel, siblings.map(received), now), exp.id);
}
