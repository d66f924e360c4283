// Issue #16 "create_task, create_taskgroup: create tasks / a task group of the task issue from a
// template; resolved when the task (group) is done; answers become result_values" — on real
// PostgreSQL, with the adapter the workers use: the default workflow's QC state makes a task from
// the built-in default_qc template; the reader's answer resolves the callback and chooses the
// branch; two disagreeing reads wait for their adjudication; a missing template and a task that
// cannot be done fail the callback saying why.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { importWorkflowYaml, type CallbackServices } from "@/lib/governor";
import { governExperiment, installWorkflow } from "@/server/governor/engine";
import { governorTaskAdapter } from "@/server/tasks/governor";
import { saveTemplate, startNext, submit } from "@/server/tasks/ops";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { testScheduler } from "./helpers";

const P = "GOVTASK";
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let services: CallbackServices;
const readers: string[] = [];
let n = 0;

const QC_FLOW = (args: string, label = "qc_flow") => `
label: ${label}
states:
  - {label: received, transitions: [{destination: qc}]}
  - label: qc
    callbacks:
      - {label: qc_task, function: create_task, wait_timeout: 10080, variable_map: {qc_passed: /qc_passed, usable: /usable},
         callback_arguments: ${args}}
    transitions:
      - {destination: done, condition: "callbacks['qc_task'].result == 'success' and experiment.variables['qc_passed'] != False and experiment.variables['usable'] != 'no'"}
      - {destination: qc_failed}
  - {label: done}
  - {label: qc_failed}
`;

async function experiment(scans: { modality: string; seriesDescription: string; instanceCount: number }[] = [{ modality: "MR", seriesDescription: "T1 MPRAGE", instanceCount: 40 }]) {
  const subj = await db.prisma.archiveSubject.upsert({ where: { projectId_label: { projectId: P, label: "S1" } }, create: { projectId: P, label: "S1" }, update: {} });
  n++;
  return db.prisma.archiveExperiment.create({
    data: { projectId: P, subjectId: subj.id, label: `E${n}`, studyInstanceUid: `2.25.66${n}`, modalities: ["MR"], scans: { create: scans.map((s, i) => ({ seriesInstanceUid: `1.2.66.${n}.${i}`, instanceCount: s.instanceCount, modality: s.modality, seriesDescription: s.seriesDescription })) } },
  });
}
const gx = (id: string) => db.prisma.governorExperiment.findUniqueOrThrow({ where: { id }, include: { variables: true } });
const qcExecution = (govExperimentId: string) => db.prisma.governorCallbackExecution.findFirstOrThrow({ where: { callback: "qc_task", action: { govExperimentId } }, orderBy: { created: "desc" } });

/** A reader takes the group's next task and submits these answers. */
async function read(groupId: string, reader: string, answers: Record<string, unknown>) {
  const t = await startNext(db.prisma, groupId, reader);
  expect(t).not.toBeNull();
  return { taskId: t!.id, ...(await submit(db.prisma, t!.id, reader, { answers, annotations: [] }, P)) };
}

beforeAll(async () => {
  db = await createTestDatabase();
  for (const who of ["r1", "r2", "r3"]) readers.push((await db.prisma.user.create({ data: { email: `${who}@atrium.test`, name: who } })).id);
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Workflow tasks", members: { create: readers.map((userId) => ({ userId, role: "member" })) } } });
  services = { programs: {}, smtp: null, startPipelineRun: null, createTasks: governorTaskAdapter(db.prisma) };
});
afterAll(async () => {
  await db?.drop();
});

describe("create_task callbacks", () => {
  it("the default QC template is made on first use; the reader's answer resolves the callback and a failed QC takes the QC-failed branch", async () => {
    await installWorkflow(db.prisma, P, importWorkflowYaml(QC_FLOW("{template: default_qc}")), null);
    const s = testScheduler(() => db.prisma, () => services);
    const e1 = await experiment();
    const g1 = (await governExperiment(db.prisma, e1.id, "event:archived", s))!;
    await s.drain();
    expect((await gx(g1)).state).toBe("qc");
    const ex = await qcExecution(g1);
    expect(ex).toMatchObject({ status: "waiting", result: "none" });
    expect(ex.resultValues).toMatchObject({ task_ids: [expect.any(String)], task_uri: expect.stringMatching(/^\/tasks\//) });
    const tpl = await db.prisma.taskTemplate.findUniqueOrThrow({ where: { projectId_name: { projectId: P, name: "default_qc" } } });
    const task = await db.prisma.task.findFirstOrThrow({ where: { experimentId: e1.id }, include: { group: true } });
    expect(task).toMatchObject({ state: "queued", trackingId: `governor:${ex.id}`, applicationName: "atrium-workflow" });
    expect(task.group!.label).toBe("Workflow: default_qc");
    expect(tpl.name).toBe("default_qc");

    const done = await read(task.groupId!, readers[0]!, { qc_passed: false, comment: "motion" });
    expect(done.state).toBe("done");
    await s.drain();
    const resolved = await qcExecution(g1);
    expect(resolved).toMatchObject({ status: "finished", result: "success" });
    expect(resolved.resultValues).toMatchObject({ qc_passed: false, comment: "motion", task_ids: [task.id] });
    const after = await gx(g1);
    expect(after.state).toBe("qc_failed");
    expect(after.variables.find((v) => v.label === "qc_passed")!.value).toBe(false);

    // A passing answer on the next experiment takes it to done; the group is reused.
    const e2 = await experiment();
    const g2 = (await governExperiment(db.prisma, e2.id, "event:archived", s))!;
    await s.drain();
    const t2 = await db.prisma.task.findFirstOrThrow({ where: { experimentId: e2.id } });
    expect(t2.groupId).toBe(task.groupId);
    await read(t2.groupId!, readers[1]!, { qc_passed: true });
    await s.drain();
    expect((await gx(g2)).state).toBe("done");
  });

  it("two reads that disagree wait for the adjudication, whose answer decides", async () => {
    await saveTemplate(db.prisma, P, null, "scan-qc", DEMO_QC_TEMPLATE);
    await installWorkflow(db.prisma, P, importWorkflowYaml(QC_FLOW("{task_info: {template: scan-qc, distribute_in_group: Double reads}, readers: 2}", "double_flow")), null);
    const s = testScheduler(() => db.prisma, () => services);
    const e = await experiment();
    const g = (await governExperiment(db.prisma, e.id, "event:archived", s))!;
    await s.drain();
    const tasks = await db.prisma.task.findMany({ where: { experimentId: e.id }, include: { group: true } });
    expect(tasks).toHaveLength(2);
    expect(tasks[0]!.group!.label).toBe("Double reads");
    const groupId = tasks[0]!.groupId!;
    await read(groupId, readers[0]!, { usable: "yes", quality: 4 });
    expect((await qcExecution(g)).status).toBe("waiting");
    const second = await read(groupId, readers[1]!, { usable: "no", reason: ["motion"], quality: 2 });
    expect(second.adjudicationId).toBeTruthy();
    await s.drain();
    expect((await qcExecution(g)).status).toBe("waiting");
    expect((await gx(g)).state).toBe("qc");
    const adj = await read(groupId, readers[2]!, { usable: "no", reason: ["motion"], quality: 2 });
    expect(adj.taskId).toBe(second.adjudicationId);
    await s.drain();
    const ex = await qcExecution(g);
    expect(ex).toMatchObject({ status: "finished", result: "success" });
    expect(ex.resultValues).toMatchObject({ usable: "no", quality: 2, reason: ["motion"] });
    expect((await gx(g)).state).toBe("qc_failed");
  });

  it("a template the project lacks, or a task that cannot be done, fails the callback with the reason", async () => {
    await installWorkflow(db.prisma, P, importWorkflowYaml(QC_FLOW("{template: no_such_template}", "missing_flow")), null);
    const s = testScheduler(() => db.prisma, () => services);
    const g = (await governExperiment(db.prisma, (await experiment()).id, "event:archived", s))!;
    await s.drain();
    const ex = await qcExecution(g);
    expect(ex).toMatchObject({ status: "finished", result: "failed" });
    expect(ex.runLog).toContain("the project has no task template 'no_such_template': create it on the Tasks tab");
    expect((await gx(g)).state).toBe("qc_failed");

    await installWorkflow(db.prisma, P, importWorkflowYaml(QC_FLOW("{template: default_qc}", "cannot_flow")), null);
    const e = await experiment([{ modality: "SR", seriesDescription: "report", instanceCount: 0 }]);
    const g2 = (await governExperiment(db.prisma, e.id, "event:archived", s))!;
    await s.drain();
    const ex2 = await qcExecution(g2);
    expect(ex2).toMatchObject({ status: "finished", result: "failed" });
    expect(ex2.runLog).toMatch(/the task cannot be done for this experiment: .*image series/);
    expect(await db.prisma.task.count({ where: { experimentId: e.id } })).toBe(0);
  });
});
