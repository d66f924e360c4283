// Reads the study export's facts (issue #16): per archived experiment, its workflow state and
// variables, the pipeline values stored on it (or on its subject or scans) and its tasks' final
// results. The table itself is lib/governor/export.ts. Read on demand, so it is as fresh as the
// last result that arrived.
import type { PrismaClient } from "@/server/db/generated/client";
import { studyCsv, studyTable, type StudyTable, type VisitFacts } from "@/lib/governor/export";
import { TaskTemplate } from "@/lib/tasks/template";

export async function studyExportTable(prisma: PrismaClient, projectId: string): Promise<StudyTable> {
  const [experiments, values, tasks, pipelines] = await Promise.all([
    prisma.archiveExperiment.findMany({
      where: { projectId },
      orderBy: [{ subject: { label: "asc" } }, { studyDate: "asc" }, { label: "asc" }],
      select: {
        id: true,
        label: true,
        subjectId: true,
        studyDate: true,
        modalities: true,
        subject: { select: { label: true } },
        scans: { select: { id: true } },
        governor: { select: { state: true, stateSince: true, workflow: { select: { label: true, version: true } }, variables: { select: { label: true, value: true } } } },
      },
    }),
    prisma.archiveValue.findMany({ where: { projectId }, orderBy: { updatedAt: "asc" }, select: { subjectId: true, experimentId: true, scanId: true, name: true, value: true, runId: true } }),
    prisma.task.findMany({
      where: { projectId, experimentId: { not: null }, state: "done" },
      select: {
        experimentId: true,
        kind: true,
        templateVersion: { select: { format: true, definition: true, template: { select: { name: true } } } },
        results: { orderBy: { version: "desc" }, take: 1, select: { answers: true } },
      },
    }),
    prisma.pipelineRun.findMany({ where: { projectId }, select: { id: true, pipelineId: true, pipelineVersion: true } }),
  ]);
  const pipelineOf = new Map(pipelines.map((r) => [r.id, `${r.pipelineId} ${r.pipelineVersion}`]));
  const scanOwner = new Map(experiments.flatMap((e) => e.scans.map((s) => [s.id, e.id] as const)));
  const templates = new Map<string, TaskTemplate | null>();

  const visits = new Map<string, VisitFacts>(
    experiments.map((e) => [
      e.id,
      {
        subject: e.subject.label,
        experiment: e.label,
        studyDate: e.studyDate,
        modalities: e.modalities,
        workflow: e.governor ? `${e.governor.workflow.label} v${e.governor.workflow.version}` : null,
        state: e.governor?.state ?? null,
        stateSince: e.governor?.stateSince.toISOString() ?? null,
        variables: Object.fromEntries((e.governor?.variables ?? []).map((v) => [v.label, v.value])),
        values: {},
        answers: {},
      },
    ]),
  );
  // Values in update order, so the newest of a name wins; the experiment's own win over its subject's.
  const bySubject = new Map<string, string[]>();
  for (const e of experiments) bySubject.set(e.subjectId, [...(bySubject.get(e.subjectId) ?? []), e.id]);
  for (const level of ["subject", "scan", "experiment"] as const) {
    for (const v of values) {
      const at = v.scanId ? "scan" : v.experimentId ? "experiment" : "subject";
      if (at !== level) continue;
      const targets = at === "subject" ? (bySubject.get(v.subjectId) ?? []) : [at === "scan" ? scanOwner.get(v.scanId!) : v.experimentId!];
      for (const id of targets) {
        const visit = id ? visits.get(id) : undefined;
        if (visit) visit.values[v.name] = { value: v.value, pipeline: v.runId ? (pipelineOf.get(v.runId) ?? null) : null, level: at };
      }
    }
  }
  for (const t of tasks) {
    const visit = visits.get(t.experimentId!);
    const result = t.results[0];
    if (!visit || !result) continue;
    const name = t.templateVersion.template.name;
    if (!templates.has(name)) {
      const parsed = t.templateVersion.format === "atrium" ? TaskTemplate.safeParse(t.templateVersion.definition) : null;
      templates.set(name, parsed?.success ? parsed.data : null);
    }
    const a = (visit.answers[name] ??= { template: templates.get(name) ?? null, reads: [], adjudicated: null });
    const answers = (result.answers ?? {}) as Record<string, unknown>;
    if (t.kind === "adjudication") a.adjudicated = answers;
    else a.reads.push(answers);
  }
  return studyTable([...visits.values()]);
}

export async function studyExport(prisma: PrismaClient, projectId: string, format: "csv" | "json") {
  const table = await studyExportTable(prisma, projectId);
  const base = `${projectId}-study-export-${new Date().toISOString().slice(0, 10)}`;
  return format === "csv"
    ? { filename: `${base}.csv`, contentType: "text/csv", body: studyCsv(table), rows: table.rows.length }
    : { filename: `${base}.json`, contentType: "application/json", body: JSON.stringify({ project: projectId, generatedAt: new Date().toISOString(), dictionary: table.dictionary, rows: table.rows }, null, 2), rows: table.rows.length };
}
