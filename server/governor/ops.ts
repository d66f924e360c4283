// The governor's operations for the CLI (`atrium workflow import`, `atrium experiments`) and its
// operator route (the embedded database serves one process): the same functions the portal uses.
import type { PrismaClient } from "@/server/db/generated/client";
import { importWorkflowYaml, WorkflowImportError } from "@/lib/governor";
import { installWorkflow } from "./engine";
import { adoptExperiments } from "./views";

export type ImportOutcome =
  | { ok: true; workflow: { id: string; label: string; version: number; format: string }; warnings: { line: number | null; message: string }[]; adopted: number }
  | { ok: false; problems: { line: number | null; message: string }[] };

export async function importForProject(prisma: PrismaClient, projectId: string, source: string, adopt: boolean, actorId: string | null = null): Promise<ImportOutcome> {
  let imported;
  try {
    imported = importWorkflowYaml(source);
  } catch (e) {
    if (e instanceof WorkflowImportError) return { ok: false, problems: e.problems };
    throw e;
  }
  const w = await installWorkflow(prisma, projectId, imported, actorId);
  const adopted = adopt ? await adoptExperiments(prisma, projectId) : 0;
  return { ok: true, workflow: { id: w.id, label: w.label, version: w.version, format: w.format }, warnings: w.warnings, adopted };
}

export interface ExperimentRow {
  label: string;
  subject: string;
  state: string | null;
  since: string;
  secondsInState: number;
  waitingFor: string | null;
  error: string | null;
  workflow: string;
}

export async function experimentsOf(prisma: PrismaClient, projectId: string, state?: string, limit = 10_000): Promise<ExperimentRow[]> {
  const rows = await prisma.governorExperiment.findMany({
    where: { projectId, ...(state ? { state } : {}) },
    orderBy: [{ state: "asc" }, { stateSince: "asc" }],
    take: limit,
    select: { state: true, stateSince: true, waitingFor: true, lastError: true, experiment: { select: { label: true, subject: { select: { label: true } } } }, workflow: { select: { label: true, version: true } } },
  });
  const now = Date.now();
  return rows.map((r) => ({
    label: r.experiment.label,
    subject: r.experiment.subject.label,
    state: r.state,
    since: r.stateSince.toISOString(),
    secondsInState: Math.max(0, Math.round((now - r.stateSince.getTime()) / 1000)),
    waitingFor: r.waitingFor,
    error: r.lastError,
    workflow: `${r.workflow.label} v${r.workflow.version}`,
  }));
}
