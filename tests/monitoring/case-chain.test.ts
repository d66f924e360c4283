// Issue #13 "A case's chain: for one experiment, received → de-identified → archived → each run →
// each task → done, with times and links, as one timeline" — the rules (lib) and, on real
// PostgreSQL, the chain read from intake, archive, forwarding, pipelines, tasks and the workflow.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { caseChain, type CaseFacts } from "@/lib/monitoring/case-chain";
import { importWorkflowYaml } from "@/lib/governor";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { installWorkflow } from "@/server/governor/engine";
import { caseChainOf } from "@/server/monitoring/case-chain";
import { saveTemplate } from "@/server/tasks/ops";

const t = (min: number) => new Date(Date.UTC(2026, 11, 6, 9, min));

describe("the chain (lib)", () => {
  const base: CaseFacts = { projectId: "P 1", experimentId: "e1", intake: null, archive: null, forwards: [], runs: [], tasks: [], workflow: null };
  it("orders steps by time, says what is held or still moving, and ends with done when the workflow ended", () => {
    const steps = caseChain({
      ...base,
      intake: { firstInstanceAt: t(0), lastInstanceAt: t(1), stableAt: t(2), instances: { deidentified: 5, review: 1, duplicate: 2 }, lastDeidentifiedAt: t(1) },
      archive: { state: "archived", targetKind: "xnat", archivedAt: t(3), archivedInstances: 5, lastError: null, queuedAt: t(2) },
      runs: [{ id: "r1", pipeline: "dicom-stats 1", state: "failed", createdAt: t(5), endedAt: t(6), error: "1 of 2 jobs did not succeed", startedBy: "governor:x" }],
      tasks: [{ id: "t1", number: 7, template: "qc", kind: "read", state: "locked", createdAt: t(4), doneAt: null, skipReason: null }],
      workflow: { label: "wf", version: 2, state: "done", final: true, actions: [{ state: "received", at: t(3), cause: "event:archived" }, { state: "done", at: t(8), cause: "auto" }] },
    });
    expect(steps.map((s) => [s.kind, s.status])).toEqual([
      ["received", "done"],
      ["deidentified", "failed"],
      ["archived", "done"],
      ["workflow", "done"],
      ["task", "active"],
      ["run", "failed"],
      ["workflow", "done"],
      ["done", "done"],
    ]);
    expect(steps[1]!.detail).toBe("5 instances de-identified, 2 duplicate, 1 held for a pixel review");
    expect(steps[1]!.href).toBe("/projects/P%201?tab=quarantine");
    expect(steps[2]!.title).toBe("Archived (xnat)");
    expect(steps[4]).toMatchObject({ title: "Task #7 (qc)", href: "/tasks/t1" });
    expect(steps[5]).toMatchObject({ title: "Pipeline dicom-stats 1", detail: "failed: 1 of 2 jobs did not succeed (started by the workflow)", href: "/projects/P%201/runs/r1" });
    expect(steps[7]!.detail).toBe("the workflow ended in 'done'");
  });

  it("a case still arriving is active, with nothing after it", () => {
    const steps = caseChain({ ...base, intake: { firstInstanceAt: t(0), lastInstanceAt: t(0), stableAt: null, instances: { received: 3 }, lastDeidentifiedAt: null } });
    expect(steps.map((s) => [s.kind, s.status])).toEqual([["received", "active"], ["deidentified", "active"]]);
    expect(steps[0]!.detail).toContain("still receiving");
    expect(caseChain(base)).toEqual([]);
  });
});

describe("the chain of an experiment in a project", () => {
  const P = "CHAIN";
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("reads intake, archive, forwards, runs, tasks and the workflow of that experiment only", async () => {
    await db.prisma.project.create({ data: { id: P, idLower: "chain", name: "Chain" } });
    const study = await db.prisma.intakeStudy.create({
      data: { projectId: P, studyInstanceUid: "2.25.1", subjectLabel: "S1", status: "archived", firstInstanceAt: t(0), lastInstanceAt: t(1), stableAt: t(2), archive: { create: { projectId: P, state: "archived", archivedAt: t(3), archivedInstances: 2, queuedAt: t(2) } } },
    });
    const inst = (status: "deidentified" | "quarantined", n: number) =>
      db.prisma.receivedInstance.create({ data: { projectId: P, channel: "cstore", batchId: "b", stagingPath: `s/${n}`, sizeBytes: 1, sha256: "0".repeat(64), status, studyId: study.id, receivedAt: t(0), updatedAt: t(1) } });
    await inst("deidentified", 1);
    await inst("deidentified", 2);
    await inst("quarantined", 3);
    const subj = await db.prisma.archiveSubject.create({ data: { projectId: P, label: "S1" } });
    const exp = await db.prisma.archiveExperiment.create({ data: { projectId: P, subjectId: subj.id, label: "S1_MR1", studyInstanceUid: "2.25.1", intakeStudyId: study.id } });
    const other = await db.prisma.archiveExperiment.create({ data: { projectId: P, subjectId: subj.id, label: "S1_MR2", studyInstanceUid: "2.25.2" } });
    const dest = await db.prisma.forwardDestination.create({ data: { projectId: P, name: "Research PACS", kind: "dicom", host: "127.0.0.1", port: 9, calledAe: "PACS", callingAe: "ATRIUM" } });
    for (const [sop, outcome] of [["1", "success"], ["2", "failed"], ["3", "filtered"]] as const) await db.prisma.forwardDelivery.create({ data: { destinationId: dest.id, studyId: study.id, sopInstanceUid: sop, outcome, updatedAt: t(4) } });
    const pipe = await db.prisma.pipeline.create({ data: { scope: P, projectId: P, pipelineId: "dicom-stats", version: "1", definition: {}, sourceText: "x", toolVersions: {} } });
    const run = (experimentIds: string[], state: "succeeded" | "running") =>
      db.prisma.pipelineRun.create({ data: { projectId: P, pipelineRowId: pipe.id, pipelineId: "dicom-stats", pipelineVersion: "1", experimentIds, startedBy: "cli", executor: "local", workDir: "/tmp/x", state, createdAt: t(4) } });
    const mine = await run([exp.id, other.id], "succeeded");
    await run([other.id], "running");
    const tpl = await saveTemplate(db.prisma, P, null, "scan-qc", DEMO_QC_TEMPLATE);
    const task = await db.prisma.task.create({ data: { projectId: P, templateVersionId: tpl.versionId, caseKey: exp.id, experimentId: exp.id, state: "done", createdAt: t(5), doneAt: t(6) } });
    const wf = await installWorkflow(db.prisma, P, importWorkflowYaml("label: f\nstates:\n  - {label: a, transitions: [{destination: b}]}\n  - {label: b}\n"), null);
    await db.prisma.governorExperiment.create({
      data: { projectId: P, experimentId: exp.id, workflowId: wf.id, state: "b", revision: 2, actions: { create: [{ revision: 1, toState: "a", cause: "event:archived", startTime: t(3) }, { revision: 2, fromState: "a", toState: "b", cause: "auto", startTime: t(7) }] } },
    });

    const chain = await caseChainOf(db.prisma, P, exp.id);
    expect(chain!.experiment).toEqual({ id: exp.id, label: "S1_MR1", subject: "S1" });
    expect(chain!.steps.map((s) => s.kind)).toEqual(["received", "deidentified", "archived", "workflow", "forwarded", "run", "task", "workflow", "done"]);
    const by = (k: string) => chain!.steps.find((s) => s.kind === k)!;
    expect(by("received").detail).toMatch(/^3 instances between 09:00:00 and 09:01:00 UTC; stable$/);
    expect(by("deidentified")).toMatchObject({ detail: "2 instances de-identified, 1 quarantined", status: "failed" });
    expect(by("forwarded")).toMatchObject({ title: "Forwarded to Research PACS", detail: "1 instance sent, 1 failed", status: "failed" });
    expect(by("run")).toMatchObject({ href: `/projects/CHAIN/runs/${mine.id}`, status: "done" });
    expect(by("task")).toMatchObject({ title: `Task #${task.number} (scan-qc)`, status: "done" });
    expect(chain!.steps.filter((s) => s.kind === "run")).toHaveLength(1);

    // Another project's id gives nothing.
    await db.prisma.project.create({ data: { id: "OTHERP", idLower: "otherp", name: "Other" } });
    expect(await caseChainOf(db.prisma, "OTHERP", exp.id)).toBeNull();
  });
});
