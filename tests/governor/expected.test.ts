// Issue #16 "Expected versus received: a project declares its protocol (visits per subject, the
// scans expected in each by pattern); Atrium reconciles what arrived and shows what is missing, late
// or unexpected; `complete` is a fact conditions can use". The rules (lib) and, on real PostgreSQL,
// the saved protocol (audited), the project's reconciliation and a workflow that waits for
// `experiment.complete` and moves when the missing scan arrives.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { importWorkflowYaml, type CallbackServices } from "@/lib/governor";
import { completenessSummary, ExpectedProtocolError, parseExpectedProtocol, reconcileSubject, type ReceivedExperiment } from "@/lib/governor/expected";
import { evaluateExperiment, governExperiment, installWorkflow } from "@/server/governor/engine";
import { completenessFacts, reconcileProject, saveProtocol } from "@/server/governor/expected";
import { testScheduler } from "./helpers";

const PROTOCOL = `# two visits; the follow-up is recognised by its study description
visits:
  - label: baseline
    scans:
      - {label: T1, modality: MR, seriesDescription: "t1|mprage", minInstances: 10}
      - {label: FLAIR, modality: mr, seriesDescription: flair}
      - {label: DWI, modality: MR, seriesDescription: "dwi|diffusion", optional: true}
  - label: followup
    studyDescription: "follow"
    withinDays: 30
    scans:
      - {label: T1, modality: MR, seriesDescription: "t1|mprage"}
`;

const problemsOf = (text: string) => {
  try {
    parseExpectedProtocol(text);
    return null;
  } catch (e) {
    if (e instanceof ExpectedProtocolError) return e.problems;
    throw e;
  }
};

const day = 86_400_000;
const t0 = new Date("2026-11-01T09:00:00Z");
const scan = (seriesDescription: string, instanceCount = 100, modality = "MR") => ({ modality, seriesDescription, instanceCount });
const exp = (id: string, studyDescription: string, at: Date, scans: ReceivedExperiment["scans"]): ReceivedExperiment => ({ id, label: id, studyDescription, receivedAt: at, scans });

describe("the protocol (lib)", () => {
  it("refuses what it cannot use, with the line and the reason", () => {
    expect(problemsOf("visits: [\n  {label: a")![0]).toEqual({ line: 2, message: expect.stringMatching(/^Flow map .* end with a }$/) });
    expect(problemsOf(PROTOCOL.replace("withinDays: 30", "withinDays: 30\n    dueIn: 3"))).toEqual([{ line: 11, message: "visits.1: Unrecognized key: \"dueIn\"" }]);
    expect(problemsOf(PROTOCOL.replace("label: followup", "label: baseline"))).toEqual([{ line: 8, message: "visits.1.label: visit 'baseline' is declared twice" }]);
    expect(problemsOf(PROTOCOL.replace("label: FLAIR", "label: T1"))).toEqual([{ line: 6, message: "visits.0.scans.1.label: scan 'T1' is declared twice in visit 'baseline'" }]);
    const re = problemsOf(PROTOCOL.replace('seriesDescription: flair', 'seriesDescription: "(?<=x)flair"'));
    expect(re).toHaveLength(1);
    expect(re![0]).toMatchObject({ line: 6 });
    expect(re![0]!.message).toMatch(/^visits\.0\.scans\.1\.seriesDescription: the pattern cannot be used/);
    expect(problemsOf("visits: []")![0]!.message).toMatch(/^visits:/);
    expect(problemsOf(PROTOCOL)).toBeNull();
  });

  it("reconciles a subject: complete, missing, unexpected series and visits, pending and late", () => {
    const p = parseExpectedProtocol(PROTOCOL);
    const base = exp("E1", "Brain baseline", t0, [scan("T1 MPRAGE sag", 176), scan("AX FLAIR"), scan("localizer", 3), scan("t1 scout", 5)]);
    let r = reconcileSubject(p, "S1", [base], new Date(t0.getTime() + 10 * day));
    expect(r.visits[0]).toEqual({ visit: "baseline", status: "complete", experimentId: "E1", experiment: "E1", missing: [], missingOptional: ["DWI"], unexpected: ["MR localizer"], dueAt: null });
    // The follow-up is due 30 days after the baseline arrived: pending before, late after.
    expect(r.visits[1]).toMatchObject({ visit: "followup", status: "pending", missing: ["T1"], dueAt: "2026-12-01T09:00:00.000Z" });
    expect(reconcileSubject(p, "S1", [base], new Date(t0.getTime() + 31 * day)).visits[1]!.status).toBe("late");

    // A T1 with fewer instances than required does not count; the follow-up is found by its description.
    const thin = exp("E1", "Brain baseline", t0, [scan("T1 MPRAGE", 9), scan("FLAIR")]);
    const follow = exp("E2", "FOLLOW-UP brain", new Date(t0.getTime() + 40 * day), [scan("t1_mprage")]);
    const extra = exp("E3", "Brain research", new Date(t0.getTime() + 50 * day), [scan("T2")]);
    r = reconcileSubject(p, "S1", [extra, follow, thin], new Date(t0.getTime() + 60 * day));
    expect(r.visits.map((v) => [v.visit, v.status, v.experiment, v.missing])).toEqual([
      ["baseline", "incomplete", "E1", ["T1"]],
      ["followup", "complete", "E2", []],
    ]);
    expect(r.unexpectedExperiments).toEqual(["E3"]);
    expect(completenessSummary([r])).toEqual({ subjects: 1, visits: [{ visit: "baseline", complete: 0, incomplete: 1, pending: 0, late: 0 }, { visit: "followup", complete: 1, incomplete: 0, pending: 0, late: 0 }], unexpectedExperiments: 1 });
  });
});

describe("expected versus received in a project", () => {
  const P = "EXPECT";
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const services: CallbackServices = { programs: {}, smtp: null, startPipelineRun: null, createTasks: null };

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Expected" } });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("a workflow waits for experiment.complete and moves when the missing scan arrives; the project view says what is missing", async () => {
    const s = testScheduler(() => db.prisma, () => services);
    await installWorkflow(
      db.prisma,
      P,
      importWorkflowYaml(`
label: wait_complete
states:
  - {label: received, transitions: [{destination: waiting}]}
  - label: waiting
    transitions:
      - {destination: complete, condition: "experiment.complete and experiment.visit == 'baseline'"}
  - {label: complete}
`),
      null,
    );
    const subj = await db.prisma.archiveSubject.create({ data: { projectId: P, label: "SUBJ01" } });
    await db.prisma.archiveSubject.create({ data: { projectId: P, label: "SUBJ02" } });
    const e = await db.prisma.archiveExperiment.create({
      data: { projectId: P, subjectId: subj.id, label: "SUBJ01_MR1", studyInstanceUid: "2.25.4401", studyDescription: "Brain", scans: { create: [{ seriesInstanceUid: "1.2.1", modality: "MR", seriesDescription: "T1 MPRAGE", instanceCount: 176 }] } },
    });
    const gov = (await governExperiment(db.prisma, e.id, "event:archived", s))!;
    await s.drain();
    // No protocol yet: complete is false, the experiment waits.
    expect(await completenessFacts(db.prisma, e.id)).toEqual({ complete: false, visit: null, missing: [] });
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: gov } })).state).toBe("waiting");

    const saved = await saveProtocol(db.prisma, P, PROTOCOL, null, s);
    expect(saved.evaluations).toBe(1);
    await s.drain();
    expect(await completenessFacts(db.prisma, e.id)).toEqual({ complete: false, visit: "baseline", missing: ["FLAIR"] });
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: gov } })).state).toBe("waiting");
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "governor.expected.save" } })).toBe(1);

    const view = await reconcileProject(db.prisma, P, { limit: 100 });
    expect(view.protocol!.visits).toEqual(["baseline", "followup"]);
    expect(view.summary!.visits).toEqual([
      { visit: "baseline", complete: 0, incomplete: 1, pending: 1, late: 0 },
      { visit: "followup", complete: 0, incomplete: 0, pending: 2, late: 0 },
    ]);
    expect(view.subjects.map((x) => [x.subject, x.visits[0]!.status, x.visits[0]!.missing])).toEqual([
      ["SUBJ01", "incomplete", ["FLAIR"]],
      ["SUBJ02", "pending", ["T1", "FLAIR"]],
    ]);
    expect((await reconcileProject(db.prisma, P, { limit: 100, status: "incomplete" })).subjects.map((x) => x.subject)).toEqual(["SUBJ01"]);
    expect((await reconcileProject(db.prisma, P, { limit: 100, search: "subj02" })).subjects.map((x) => x.subject)).toEqual(["SUBJ02"]);

    // The FLAIR arrives (the archive's event evaluates the experiment): the workflow moves on.
    await db.prisma.archiveScan.create({ data: { experimentId: e.id, seriesInstanceUid: "1.2.2", modality: "MR", seriesDescription: "AX FLAIR", instanceCount: 30 } });
    await evaluateExperiment(db.prisma, gov, { scheduler: s, cause: "event:archived" });
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: gov } })).state).toBe("complete");
    expect(await completenessFacts(db.prisma, e.id)).toEqual({ complete: true, visit: "baseline", missing: [] });
  });

  it("a project without a protocol shows none", async () => {
    await db.prisma.project.create({ data: { id: "NOPROT", idLower: "noprot", name: "No protocol" } });
    expect(await reconcileProject(db.prisma, "NOPROT", { limit: 10 })).toEqual({ protocol: null, summary: null, subjects: [], total: 0 });
  });
});
