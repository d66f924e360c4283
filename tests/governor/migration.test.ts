// Issue #16: "changing a workflow while experiments are in flight is defined: experiments keep the
// version they started with until an owner migrates them, with a preview of where each lands".
// On real PostgreSQL: the preview's groups and landings (kept, chosen, root), the refusal of a
// stale preview and of an unknown state, the migration itself (audited, one action per state
// entered), the new version deciding from then on, and two owners migrating at once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { importWorkflowYaml, type CallbackServices } from "@/lib/governor";
import { choiceKey, describeLanding, landing, MigrationChoiceError, planMigration } from "@/lib/governor/migration";
import { evaluateExperiment, governExperiment, installWorkflow, ProtocolError } from "@/server/governor/engine";
import { migrateExperiments, migrationPreview } from "@/server/governor/migration";
import { testScheduler } from "./helpers";

const V1 = `
label: mig_flow
states:
  - {label: received, transitions: [{destination: review}]}
  - label: review
    transitions:
      - {destination: done, condition: "experiment.variables['ok'] == true"}
      - {destination: legacy_hold, condition: "experiment.variables['hold'] == true"}
  - {label: done}
  - {label: legacy_hold}
`;
// v2 renames done to accepted, drops legacy_hold and adds second_look.
const V2 = `
label: mig_flow
states:
  - {label: received, transitions: [{destination: review}]}
  - label: review
    transitions:
      - {destination: accepted, condition: "experiment.variables['ok'] == true"}
      - {destination: second_look, condition: "experiment.variables['again'] == true"}
  - {label: accepted}
  - {label: second_look, transitions: [{destination: accepted, condition: "experiment.variables['ok'] == true"}]}
`;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const services: CallbackServices = { programs: {}, smtp: null, startPipelineRun: null, createTasks: null };
let owner: string;
let n = 0;

async function project(id: string) {
  await db.prisma.project.create({ data: { id, idLower: id.toLowerCase(), name: id } });
  return id;
}
async function experiment(projectId: string) {
  const subj = await db.prisma.archiveSubject.upsert({ where: { projectId_label: { projectId, label: "S1" } }, create: { projectId, label: "S1" }, update: {} });
  return db.prisma.archiveExperiment.create({ data: { projectId, subjectId: subj.id, label: `E${++n}`, studyInstanceUid: `2.25.77${n}` } });
}
const setVariable = (govExperimentId: string, label: string, value: unknown) =>
  db.prisma.governorVariable.upsert({ where: { govExperimentId_label: { govExperimentId, label } }, create: { govExperimentId, label, value: value as never }, update: { value: value as never } });
const stateOf = async (id: string) => db.prisma.governorExperiment.findUniqueOrThrow({ where: { id }, select: { state: true, revision: true, workflow: { select: { version: true } } } });

/** A project on v1 with two experiments in review, one in legacy_hold and one not started; then v2 imported. */
async function inFlight(projectId: string) {
  await project(projectId);
  const s = testScheduler(() => db.prisma, () => services);
  await installWorkflow(db.prisma, projectId, importWorkflowYaml(V1), owner);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await governExperiment(db.prisma, (await experiment(projectId)).id, "event:archived", s))!);
  await s.drain();
  await setVariable(ids[2]!, "hold", true);
  await evaluateExperiment(db.prisma, ids[2]!, { scheduler: s });
  // Not started: governed, its evaluation never ran.
  const idle = testScheduler(() => db.prisma, () => services);
  ids.push((await governExperiment(db.prisma, (await experiment(projectId)).id, "event:archived", idle))!);
  await installWorkflow(db.prisma, projectId, importWorkflowYaml(V2), owner);
  return { ids, scheduler: s };
}

beforeAll(async () => {
  db = await createTestDatabase();
  owner = (await db.prisma.user.create({ data: { email: "owner@atrium.test", name: "Owner" } })).id;
});
afterAll(async () => {
  await db?.drop();
});

describe("where an experiment lands (lib)", () => {
  const v2 = importWorkflowYaml(V2).workflow;
  it("keeps a state the new version has, enters the root otherwise, and the owner's choice wins", () => {
    expect(landing(v2, "w1", "review", {})).toEqual({ how: "keeps", state: "review" });
    expect(landing(v2, "w1", "legacy_hold", {})).toEqual({ how: "root", state: "received" });
    expect(landing(v2, "w1", null, {})).toEqual({ how: "root", state: "received" });
    expect(landing(v2, "w1", "review", { [choiceKey("w1", "review")]: "second_look" })).toEqual({ how: "chosen", state: "second_look" });
    // A choice for another version's group does not apply.
    expect(landing(v2, "w1", "legacy_hold", { [choiceKey("w0", "legacy_hold")]: "accepted" })).toEqual({ how: "root", state: "received" });
    expect(() => landing(v2, "w1", "review", { "w1/review": "gone" })).toThrow(MigrationChoiceError);
    expect(() => landing(v2, "w1", "review", { "w1/review": "gone" })).toThrow(/no state 'gone'.*received, review, accepted, second_look/);
    expect(describeLanding({ how: "keeps", state: "review" })).toBe("keeps its state 'review'");
    const plan = planMigration(v2, [{ workflowId: "w1", state: "review", count: 2 }, { workflowId: "w1", state: null, count: 1 }], {});
    expect(plan.total).toBe(3);
    expect(plan.groups.map((g) => g.landing.how)).toEqual(["keeps", "root"]);
  });
});

describe("migrating experiments to the active workflow version", () => {
  it("previews where each group lands, refuses a stale preview, migrates as shown (audited), and the new version decides from then on", async () => {
    const { ids, scheduler } = await inFlight("MIGA");
    const [r1, r2, held, idle] = ids as [string, string, string, string];
    expect((await stateOf(r1)).state).toBe("review");
    expect((await stateOf(held)).state).toBe("legacy_hold");
    expect((await stateOf(idle)).state).toBeNull();

    const preview = await migrationPreview(db.prisma, "MIGA", {});
    expect(preview.target).toMatchObject({ label: "mig_flow", version: 2, states: ["received", "review", "accepted", "second_look"] });
    expect(preview.total).toBe(4);
    expect(preview.groups.map((g) => [g.from.version, g.state, g.count, g.describe])).toEqual([
      [1, null, 1, "enters the root 'received'"],
      [1, "legacy_hold", 1, "enters the root 'received'"],
      [1, "review", 2, "keeps its state 'review'"],
    ]);
    const holdKey = preview.groups.find((g) => g.state === "legacy_hold")!.key;
    const chosen = await migrationPreview(db.prisma, "MIGA", { [holdKey]: "second_look" });
    expect(chosen.groups.find((g) => g.state === "legacy_hold")!.describe).toBe("enters 'second_look' (chosen)");
    await expect(migrationPreview(db.prisma, "MIGA", { [holdKey]: "nowhere" })).rejects.toThrow(MigrationChoiceError);

    // The owner saw 3: something changed since, nothing is migrated.
    const refused = await migrateExperiments(db.prisma, "MIGA", { choices: {}, expected: 3, actorId: owner, scheduler }).catch((e) => e);
    expect(refused).toBeInstanceOf(ProtocolError);
    expect((refused as ProtocolError).status).toBe(409);
    expect((refused as Error).message).toMatch(/showed 3 experiment\(s\).*now 4/);
    expect((await stateOf(r1)).workflow.version).toBe(1);

    const revBefore = (await stateOf(r1)).revision;
    const out = await migrateExperiments(db.prisma, "MIGA", { choices: { [holdKey]: "second_look" }, expected: 4, actorId: owner, scheduler });
    await scheduler.drain();
    expect(out).toEqual({ migrated: 4, kept: 2, entered: 2, skipped: 0 });
    for (const id of ids) expect((await stateOf(id)).workflow.version).toBe(2);
    // Kept: same state, same revision (its open callbacks would go on), no new action.
    expect(await stateOf(r1)).toMatchObject({ state: "review", revision: revBefore });
    // Chosen: entered second_look with cause migration, by the owner, saying from where.
    expect((await stateOf(held)).state).toBe("second_look");
    const entered = await db.prisma.governorAction.findFirstOrThrow({ where: { govExperimentId: held, cause: "migration" } });
    expect(entered).toMatchObject({ fromState: "legacy_hold", toState: "second_look", actorId: owner });
    expect(entered.freetext).toBe("Migrated from mig_flow v1 (state 'legacy_hold') to mig_flow v2");
    // Not started: entered the new root and went on by itself.
    expect((await stateOf(idle)).state).toBe("review");
    const audits = await db.prisma.auditEvent.findMany({ where: { projectId: "MIGA", action: "governor.migrate" } });
    expect(audits).toHaveLength(4);
    expect(audits.every((a) => a.actorId === owner)).toBe(true);
    const heldAudit = audits.find((a) => (a.before as { state: string | null }).state === "legacy_hold")!;
    expect(heldAudit.after).toEqual({ workflow: "mig_flow v2", state: "second_look", how: "chosen" });

    // The new version's transitions decide now: ok leads to accepted, a state v1 did not have.
    await setVariable(r2, "ok", true);
    await evaluateExperiment(db.prisma, r2, { scheduler });
    expect((await stateOf(r2)).state).toBe("accepted");

    // Nothing left to migrate.
    expect((await migrationPreview(db.prisma, "MIGA", {})).total).toBe(0);
    expect(await migrateExperiments(db.prisma, "MIGA", { choices: {}, expected: 0, actorId: owner, scheduler })).toEqual({ migrated: 0, kept: 0, entered: 0, skipped: 0 });
  });

  it("two owners migrating at once move each experiment once", async () => {
    const { ids, scheduler } = await inFlight("MIGB");
    const both = await Promise.allSettled([
      migrateExperiments(db.prisma, "MIGB", { choices: {}, expected: 4, actorId: owner, scheduler }),
      migrateExperiments(db.prisma, "MIGB", { choices: {}, expected: 4, actorId: owner, scheduler }),
    ]);
    const migrated = both.reduce((s, r) => s + (r.status === "fulfilled" ? r.value.migrated : 0), 0);
    for (const r of both) if (r.status === "rejected") expect((r.reason as ProtocolError).status).toBe(409);
    expect(migrated).toBe(4);
    expect(await db.prisma.auditEvent.count({ where: { projectId: "MIGB", action: "governor.migrate" } })).toBe(4);
    const held = ids[2]!;
    expect(await db.prisma.governorAction.count({ where: { govExperimentId: held, cause: "migration" } })).toBe(1);
    expect((await stateOf(held)).state).toBe("review");
  });

  it("a project without a workflow has nothing to preview", async () => {
    await project("MIGC");
    await expect(migrationPreview(db.prisma, "MIGC", {})).rejects.toThrow(/no workflow: import one first/);
  });
});
