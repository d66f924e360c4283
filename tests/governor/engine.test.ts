// Issue #16: the governor on real PostgreSQL — experiments entering a workflow, callbacks run by a
// registered program whose values choose the branch, timeouts, the callback protocol's rules, a
// transition taken once under concurrent evaluations, conditions failing at run time, manual and
// forced state changes (audited) and the retry of a failed callback. Jobs are collected by a test
// scheduler and drained in order (the BullMQ path is exercised by tests/governor/e2e.test.ts).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { importWorkflowYaml, type CallbackServices } from "@/lib/governor";
import {
  evaluateExperiment,
  governExperiment,
  installWorkflow,
  onExperimentsEvent,
  onStudyArchived,
  onStudyReceived,
  ProtocolError,
  retryExecution,
  setExperimentState,
  updateExecution,
} from "@/server/governor/engine";
import { testScheduler as makeScheduler, writeProgram } from "./helpers";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-gov-engine-"));

let services: CallbackServices;
const program = (name: string, body: string) => writeProgram(tmp, name, body);
const testScheduler = () => makeScheduler(() => db.prisma, () => services);

const P = "GOVENG";
let n = 0;
async function experiment(label = `E${++n}`) {
  const subj = await db.prisma.archiveSubject.upsert({ where: { projectId_label: { projectId: P, label: "S1" } }, create: { projectId: P, label: "S1" }, update: {} });
  return db.prisma.archiveExperiment.create({ data: { projectId: P, subjectId: subj.id, label, studyInstanceUid: `2.25.${Date.now()}${n}`, scans: { create: [{ seriesInstanceUid: `1.2.${n}.1`, modality: "MR", seriesDescription: "T1w", instanceCount: 3 }] } } });
}

async function install(yaml: string) {
  return installWorkflow(db.prisma, P, importWorkflowYaml(yaml), null);
}

const SCORE_FLOW = `
label: score_flow
states:
  - {label: new, freetext: New, transitions: [{destination: scoring}]}
  - label: scoring
    callbacks:
      - {label: score, function: external_program, variable_map: {score: /score},
         callback_arguments: {binary: score, args: [$EXPERIMENT]}}
    transitions:
      - {destination: good, condition: "callbacks['score'].result == 'success' and experiment.variables['score'] >= 5"}
      - {destination: bad}
  - {label: good}
  - {label: bad}
`;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Governor engine" } });
  services = {
    programs: {
      score: program("score", 'case "$1" in */api/v2/experiments/*) ;; *) echo "bad argument $1" >&2; exit 3;; esac\necho "scoring"\necho \'__VALUES__ = {"score": 7}\''),
      lowscore: program("lowscore", "echo '__VALUES__ = {\"score\": 2}'"),
      crash: program("crash", "echo boom >&2; exit 2"),
    },
    smtp: null,
    startPipelineRun: null,
    createTasks: null,
  };
});
afterAll(async () => {
  await db?.drop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function historyOf(govId: string) {
  return db.prisma.governorAction.findMany({ where: { govExperimentId: govId }, orderBy: { revision: "asc" }, include: { executions: true } });
}

describe("governor engine", () => {
  it("an experiment enters the workflow, the registered program's values choose the branch, every step is recorded and audited", async () => {
    await install(SCORE_FLOW);
    const s = testScheduler();
    const e = await experiment();
    const govId = (await governExperiment(db.prisma, e.id, "event:archived", s))!;
    await s.drain();
    const gx = await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId }, include: { variables: true } });
    expect(gx.state).toBe("good");
    expect(gx.variables.map((v) => [v.label, v.value])).toEqual([["score", 7]]);
    const h = await historyOf(govId);
    expect(h.map((a) => [a.fromState, a.toState, a.cause])).toEqual([
      [null, "new", "event:archived"],
      ["new", "scoring", "auto"],
      ["scoring", "good", "callback:score"],
    ]);
    const exec = h[1]!.executions[0]!;
    expect(exec).toMatchObject({ callback: "score", function: "external_program", status: "finished", result: "success" });
    expect(exec.runLog).toContain("scoring");
    expect(exec.resultValues).toMatchObject({ score: 7, return_code: 0 });
    expect(h[1]!.trace).toEqual([
      { destination: "good", condition: "callbacks['score'].result == 'success' and experiment.variables['score'] >= 5", test_result: true },
    ]);
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "governor.transition", targetId: e.id } })).toBe(3);
  });

  it("a low score takes the other branch; a crashing program fails the callback with its output", async () => {
    await install(SCORE_FLOW.replace("binary: score", "binary: lowscore").replace("label: score_flow", "label: low_flow"));
    const s = testScheduler();
    const e = await experiment();
    const govId = (await governExperiment(db.prisma, e.id, "event:archived", s))!;
    await s.drain();
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("bad");

    await install(SCORE_FLOW.replace("binary: score", "binary: crash").replace("label: score_flow", "label: crash_flow"));
    const e2 = await experiment();
    const gov2 = (await governExperiment(db.prisma, e2.id, "event:archived", s))!;
    await s.drain();
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: gov2 } })).state).toBe("bad");
    const ex = (await historyOf(gov2))[1]!.executions[0]!;
    expect(ex).toMatchObject({ status: "finished", result: "failed" });
    expect(ex.runLog).toContain("boom");
  });

  it("a program that is not registered is never run: the callback fails saying how to register it", async () => {
    await install(SCORE_FLOW.replace("binary: score", "binary: /bin/rm").replace("label: score_flow", "label: path_flow"));
    const s = testScheduler();
    const govId = (await governExperiment(db.prisma, (await experiment()).id, "x", s))!;
    await s.drain();
    const ex = (await historyOf(govId))[1]!.executions[0]!;
    expect(ex.result).toBe("failed");
    expect(ex.runLog).toMatch(/not registered.*ATRIUM_GOVERNOR_PROGRAMS/);
  });

  it("states without callbacks or with all callbacks skipped advance by themselves", async () => {
    await install(`
label: skip_flow
states:
  - {label: a, transitions: [{destination: b}]}
  - label: b
    callbacks: [{label: never, function: sleep, condition: "experiment.label == 'nobody'", callback_arguments: {seconds: 1}}]
    transitions: [{destination: c, condition: "callbacks['never'].status == 'skipped'"}]
  - {label: c}
`);
    const s = testScheduler();
    const govId = (await governExperiment(db.prisma, (await experiment()).id, "x", s))!;
    await s.drain();
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("c");
    expect((await historyOf(govId))[1]!.executions[0]).toMatchObject({ status: "skipped" });
  });

  it("a waiting callback is resolved through the protocol; a second PUT is 409; mapped variables are set", async () => {
    await install(`
label: wait_flow
states:
  - {label: start, transitions: [{destination: review}]}
  - label: review
    callbacks: [{label: ext, function: sleep, wait_timeout: 60, variable_map: {verdict: /verdict}, callback_arguments: {seconds: 0}}]
    transitions:
      - {destination: accepted, condition: "callbacks['ext'].result == 'success' and experiment.variables['verdict'] == 'ok'"}
      - {destination: rejected}
  - {label: accepted}
  - {label: rejected}
`);
    const s = testScheduler();
    const govId = (await governExperiment(db.prisma, (await experiment()).id, "x", s))!;
    await s.drain();
    const gx = await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } });
    expect(gx.state).toBe("review");
    expect(gx.waitingFor).toMatch(/ext \(waiting\)/);
    expect(gx.nextCheckAt).not.toBeNull();
    const ex = (await historyOf(govId))[1]!.executions[0]!;
    expect(ex.status).toBe("waiting");
    await updateExecution(db.prisma, ex.id, { status: "finished", result: "success", result_values: { verdict: "ok" } }, { scheduler: s });
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("accepted");
    const again = await updateExecution(db.prisma, ex.id, { status: "finished", result: "failed" }, { scheduler: s }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ProtocolError);
    expect((again as ProtocolError).status).toBe(409);
  });

  it("a wait_timeout expires the callback (result timeout) and the branch for it is taken", async () => {
    await install(`
label: timeout_flow
states:
  - {label: start, transitions: [{destination: review}]}
  - label: review
    callbacks: [{label: ext, function: sleep, wait_timeout: 1, callback_arguments: {seconds: 0}}]
    transitions:
      - {destination: late, condition: "callbacks['ext'].result == 'timeout'"}
      - {destination: ok}
  - {label: late}
  - {label: ok}
`);
    const s = testScheduler();
    const govId = (await governExperiment(db.prisma, (await experiment()).id, "x", s))!;
    await s.drain();
    expect(s.timers.some((t) => t.kind === "evaluate" && t.id === govId && t.delayMs >= 60_000)).toBe(true);
    // Not yet: the evaluation before the deadline leaves it waiting.
    await evaluateExperiment(db.prisma, govId, { scheduler: s });
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("review");
    await evaluateExperiment(db.prisma, govId, { scheduler: s, now: () => new Date(Date.now() + 61_000) });
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("late");
    const ex = (await historyOf(govId))[1]!.executions[0]!;
    expect(ex).toMatchObject({ status: "finished", result: "timeout" });
    expect(ex.resultLog).toContain("wait_timeout");
  });

  it("a transition is taken once under concurrent evaluations", async () => {
    await install(`
label: race_flow
states:
  - {label: a, transitions: [{destination: b}]}
  - {label: b, transitions: [{destination: c}]}
  - {label: c}
`);
    const s = testScheduler();
    const e = await experiment();
    const govId = (await governExperiment(db.prisma, e.id, "x", s))!;
    await Promise.all(Array.from({ length: 8 }, () => evaluateExperiment(db.prisma, govId, { scheduler: s })));
    const h = await historyOf(govId);
    expect(h.map((a) => a.toState)).toEqual(["a", "b", "c"]);
    expect(h.map((a) => a.revision)).toEqual([1, 2, 3]);
    expect(await db.prisma.auditEvent.count({ where: { action: "governor.transition", targetId: e.id } })).toBe(3);
  });

  it("a condition that fails at run time leaves the experiment where it is, with the error shown", async () => {
    await install(`
label: bad_cond
states:
  - {label: a, transitions: [{destination: b}]}
  - {label: b, transitions: [{destination: c, condition: "experiment.variables['missing'] > 3"}]}
  - {label: c}
`);
    const s = testScheduler();
    const govId = (await governExperiment(db.prisma, (await experiment()).id, "x", s))!;
    await s.drain();
    const gx = await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } });
    expect(gx.state).toBe("b");
    expect(gx.lastError).toMatch(/transition b → c: the condition could not be evaluated/);
  });

  it("setting a state needs a direct transition (409 otherwise, 404 for an unknown state); an owner may force one, audited", async () => {
    await install(`
label: manual_flow
states:
  - {label: a, transitions: [{destination: b}]}
  - label: b
    callbacks: [{label: ext, function: sleep, wait_timeout: 60, callback_arguments: {seconds: 0}}]
    transitions: [{destination: c}, {destination: d}]
  - {label: c}
  - {label: d, transitions: [{destination: b}]}
`);
    const s = testScheduler();
    const e = await experiment();
    const govId = (await governExperiment(db.prisma, e.id, "x", s))!;
    await s.drain();
    const unknown = await setExperimentState(db.prisma, govId, "zzz", { force: false, cause: "api" }).catch((x: unknown) => x);
    expect((unknown as ProtocolError).status).toBe(404);
    const noPath = await setExperimentState(db.prisma, govId, "a", { force: false, cause: "api", scheduler: s }).catch((x: unknown) => x);
    expect((noPath as ProtocolError).status).toBe(409);
    expect((noPath as ProtocolError).errorclass).toBe("NoValidTransitionError");
    await setExperimentState(db.prisma, govId, "d", { force: false, cause: "api", scheduler: s });
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("b");
    await setExperimentState(db.prisma, govId, "a", { force: true, cause: "manual", freetext: "re-run from the start", actorId: null, scheduler: s });
    await s.drain();
    const h = await historyOf(govId);
    expect(h.map((a) => `${a.toState}:${a.cause}`)).toEqual(["a:x", "b:auto", "d:api", "b:auto", "a:manual", "b:auto"]);
    expect(h[4]!.freetext).toBe("re-run from the start");
  });

  it("an owner retries a failed callback of the current state; it runs again", async () => {
    await install(`
label: retry_flow
states:
  - {label: a, transitions: [{destination: b}]}
  - label: b
    callbacks: [{label: s, function: external_program, callback_arguments: {binary: flaky}}]
    transitions: [{destination: c, condition: "callbacks['s'].result == 'success'"}]
  - {label: c}
`);
    const flag = path.join(tmp, "flaky-ok");
    services.programs.flaky = program("flaky", `[ -f ${flag} ] || { echo "not yet" >&2; exit 1; }`);
    const s = testScheduler();
    const e = await experiment();
    const govId = (await governExperiment(db.prisma, e.id, "x", s))!;
    await s.drain();
    const gx = await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } });
    expect(gx.state).toBe("b");
    expect(gx.waitingFor).toMatch(/no transition's condition holds/);
    const ex = (await historyOf(govId))[1]!.executions[0]!;
    expect(ex.result).toBe("failed");
    fs.writeFileSync(flag, "");
    const owner = await db.prisma.user.create({ data: { email: "gov-owner@atrium.test" } });
    await retryExecution(db.prisma, ex.id, owner.id, s);
    await s.drain();
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("c");
    expect(await db.prisma.auditEvent.count({ where: { action: "governor.retry", targetId: ex.id, actorId: owner.id } })).toBe(1);
    const notFailed = await retryExecution(db.prisma, ex.id, owner.id, s).catch((x: unknown) => x);
    expect((notFailed as ProtocolError).status).toBe(409);
  });

  it("experiments keep the workflow version they started with", async () => {
    const v1 = await install(`label: versioned\nstates:\n  - {label: a, transitions: [{destination: b}]}\n  - {label: b}\n`);
    const s = testScheduler();
    const gov1 = (await governExperiment(db.prisma, (await experiment()).id, "x", s))!;
    const v2 = await install(`label: versioned\nstates:\n  - {label: a, transitions: [{destination: z}]}\n  - {label: z}\n`);
    expect([v1.version, v2.version]).toEqual([1, 2]);
    const gov2 = (await governExperiment(db.prisma, (await experiment()).id, "x", s))!;
    await s.drain();
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: gov1 } })).state).toBe("b");
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: gov2 } })).state).toBe("z");
  });

  it("a pipeline value arriving (a run's end event) lets a condition on experiment.values move the experiment", async () => {
    await install(`label: values_flow
states:
  - {label: waiting, transitions: [{destination: bright, condition: "experiment.values['mean'] > 5"}]}
  - {label: bright}
`);
    const s = testScheduler();
    const e = await experiment();
    const govId = (await governExperiment(db.prisma, e.id, "event:archived", s))!;
    await s.drain();
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("waiting");
    await db.prisma.archiveValue.create({ data: { projectId: P, subjectId: e.subjectId, experimentId: e.id, name: "mean", value: 7.5 } });
    expect(await onExperimentsEvent(db.prisma, [e.id, "not-governed"], "event:run", s)).toBe(1);
    await s.drain();
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("bright");
    expect((await historyOf(govId)).map((a) => a.cause)).toEqual(["event:archived", "event:run"]);
  });

  it("a study's first de-identified instance puts its experiment in the workflow, once, even when several arrive at once", async () => {
    const { experimentLabel } = await import("@/lib/archive/driver");
    const study = await db.prisma.intakeStudy.create({ data: { projectId: P, studyInstanceUid: "2.25.8080", subjectLabel: "SUBJ-RECV" } });
    const s = testScheduler();
    // The project's active workflow (the last installed) starts it at reception.
    await install(`label: recv_flow\nstates:\n  - {label: received, transitions: [{destination: archived, condition: "experiment.archived"}]}\n  - {label: archived}\n`);
    const govIds = await Promise.all(Array.from({ length: 5 }, () => onStudyReceived(db.prisma, study.id, s)));
    expect(govIds.filter(Boolean).length).toBeGreaterThanOrEqual(1);
    const exps = await db.prisma.archiveExperiment.findMany({ where: { intakeStudyId: study.id }, include: { subject: true, governor: true } });
    expect(exps).toHaveLength(1);
    expect(exps[0]).toMatchObject({ label: experimentLabel("SUBJ-RECV", "2.25.8080"), studyInstanceUid: "2.25.8080", subject: { label: "SUBJ-RECV" } });
    await s.drain();
    // Not archived yet (a StudyArchive row still queued): it waits in received.
    await db.prisma.studyArchive.create({ data: { studyId: study.id, projectId: P, state: "queued" } });
    const gov = exps[0]!.governor!;
    await evaluateExperiment(db.prisma, gov.id, { scheduler: s });
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: gov.id } })).state).toBe("received");
    expect((await historyOf(gov.id))[0]!.cause).toBe("event:received");
    // Later instances do nothing here; archiving moves it on.
    expect(await onStudyReceived(db.prisma, study.id, s)).toBeNull();
    await db.prisma.studyArchive.update({ where: { studyId: study.id }, data: { state: "archived" } });
    await onStudyArchived(db.prisma, study.id, s);
    await s.drain();
    expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: gov.id } })).state).toBe("archived");
  });

  it("a fastr callback stays running while its pipeline runs (without a wait_timeout) and the run's end decides", async () => {
    const started: string[] = [];
    const saved = services;
    services = { ...saved, startPipelineRun: async (req) => (started.push(req.callbackUrl), { runId: "run-1" }) };
    try {
      await install(`label: fastr_flow
states:
  - {label: a, transitions: [{destination: processing}]}
  - label: processing
    callbacks: [{label: process, function: fastr, run_timeout: 240, callback_arguments: {network_id: dicom-stats}}]
    transitions:
      - {destination: processed, condition: "callbacks['process'].result == 'success'"}
      - {destination: failed}
  - {label: processed}
  - {label: failed}
`);
      const s = testScheduler();
      const govId = (await governExperiment(db.prisma, (await experiment()).id, "x", s))!;
      await s.drain();
      expect(started).toHaveLength(1);
      const ex = (await historyOf(govId))[1]!.executions[0]!;
      expect(ex).toMatchObject({ status: "running", result: "none" });
      expect(ex.runLog).toContain("pipeline run run-1 started");
      expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("processing");
      // The run ends (server/pipelines/runs.ts tells the governor so).
      await updateExecution(db.prisma, ex.id, { status: "finished", result: "success", result_values: { run_id: "run-1", run_state: "succeeded" } }, { scheduler: s });
      await s.drain();
      expect((await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: govId } })).state).toBe("processed");
    } finally {
      services = saved;
    }
  });
});
