// Task lifecycle on a real PostgreSQL: start next with concurrent sessions, locks, drafts, validated
// submits, template versions kept by open tasks, and exactly one adjudication on disagreement.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { openDb } from "@/server/db";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { groupAgreement, groupExport, groupResults } from "@/server/tasks/views";
import { createGroup, getTask, maybeAdjudicate, release, renewLock, saveDraft, saveTemplate, skip, startNext, submit } from "@/server/tasks/ops";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const P = "TASKS";
let owner: string;
let readers: string[] = [];
let experiments: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const p = db.prisma;
  owner = (await p.user.create({ data: { email: "owner@tasks.test" } })).id;
  readers = [];
  for (let i = 0; i < 20; i++) readers.push((await p.user.create({ data: { email: `r${i}@tasks.test` } })).id);
  await p.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Tasks", members: { create: [{ userId: owner, role: "owner" }, ...readers.map((userId) => ({ userId, role: "member" as const }))] } } });
  const subj = await p.archiveSubject.create({ data: { projectId: P, label: "S1" } });
  for (let i = 0; i < 30; i++) {
    const e = await p.archiveExperiment.create({ data: { projectId: P, subjectId: subj.id, label: `E${i}`, studyInstanceUid: `2.25.${i}`, modalities: ["MR"] } });
    if (i !== 29) await p.archiveScan.create({ data: { experimentId: e.id, seriesInstanceUid: `2.25.${i}.1`, modality: "MR", seriesDescription: "T1 MPRAGE", instanceCount: 176, seriesNumber: 1 } });
    experiments.push(e.id);
  }
});
afterAll(async () => {
  await db?.drop();
});

describe("tasks", () => {
  it("20 readers pressing start next at once on separate connections never get the same task", async () => {
    const t = await saveTemplate(db.prisma, P, owner, "qc", DEMO_QC_TEMPLATE);
    const g = await createGroup(db.prisma, P, owner, { label: "race", templateId: t.templateId, experimentIds: experiments, readersPerCase: 1, distribution: "pool", pool: [] });
    expect(g.tasks).toBe(30);
    // The experiment without scans cannot be done, and says why.
    const cbd = await db.prisma.task.findFirstOrThrow({ where: { groupId: g.groupId, experimentId: experiments[29] } });
    expect(cbd.state).toBe("cannot_be_done");
    expect((cbd.resolution as { cannotBeDone: string }).cannotBeDone).toBe("cannot be done: no image series");
    const handles = await Promise.all(readers.map(() => openDb(db.url)));
    try {
      const got = await Promise.all(readers.map((r, i) => startNext(handles[i]!.prisma, g.groupId, r)));
      const ids = got.map((x) => x?.id);
      expect(ids.every(Boolean)).toBe(true);
      expect(new Set(ids).size).toBe(20);
      const second = await Promise.all(readers.map((r, i) => startNext(handles[i]!.prisma, g.groupId, r)));
      expect(second.filter(Boolean).length).toBe(9);
      expect(new Set([...ids, ...second.filter(Boolean).map((x) => x!.id)]).size).toBe(29);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
    }
  });

  it("lifecycle: draft, refused submit names field and reason, submit, release, skip, expired locks return to the pool", async () => {
    const t = await saveTemplate(db.prisma, P, owner, "qc2", DEMO_QC_TEMPLATE);
    const g = await createGroup(db.prisma, P, owner, { label: "life", templateId: t.templateId, experimentIds: experiments.slice(0, 3), readersPerCase: 1, distribution: "pool", pool: [{ userId: readers[0]!, weight: 1 }, { userId: readers[1]!, weight: 1 }, { userId: readers[2]!, weight: 0 }] });
    await expect(startNext(db.prisma, g.groupId, readers[2]!)).rejects.toThrow(/not a reader of this task group/);
    const a = (await startNext(db.prisma, g.groupId, readers[0]!))!;
    await expect(renewLock(db.prisma, a.id, readers[1]!)).rejects.toThrow(/Another reader holds/);
    await saveDraft(db.prisma, a.id, readers[0]!, { answers: { usable: "no" }, elapsedMs: 1000 });
    expect((await getTask(db.prisma, a.id, readers[0]!)).draft!.answers).toEqual({ usable: "no" });
    expect((await getTask(db.prisma, a.id, readers[1]!)).draft, "readers see only their own drafts").toBeNull();
    const refused = await submit(db.prisma, a.id, readers[0]!, { answers: { usable: "no" } }).catch((e: unknown) => e);
    expect((refused as { fieldErrors: unknown }).fieldErrors).toEqual([{ field: "reason", message: '"What is wrong?" is required' }]);
    const ok = await submit(db.prisma, a.id, readers[0]!, { answers: { usable: "no", reason: ["motion"] }, elapsedMs: 2000 });
    expect(ok).toMatchObject({ version: 1, state: "done" });
    const done = await db.prisma.task.findUniqueOrThrow({ where: { id: a.id } });
    expect(done.timeSpentMs).toBe(3000);
    expect(await db.prisma.taskDraft.count({ where: { taskId: a.id } })).toBe(0);
    const b = (await startNext(db.prisma, g.groupId, readers[1]!))!;
    await expect(release(db.prisma, b.id, readers[0]!, false)).rejects.toThrow(/Only the reader holding the lock/);
    await release(db.prisma, b.id, readers[1]!, false);
    const c = (await startNext(db.prisma, g.groupId, readers[0]!))!;
    await skip(db.prisma, c.id, readers[0]!, "wrong anatomy");
    expect((await db.prisma.task.findUniqueOrThrow({ where: { id: c.id } })).state).toBe("skipped");
    const d = (await startNext(db.prisma, g.groupId, readers[1]!))!;
    await db.prisma.task.update({ where: { id: d.id }, data: { lockExpiresAt: new Date(Date.now() - 1000) } });
    const taken = await startNext(db.prisma, g.groupId, readers[0]!);
    expect(taken?.id, "an abandoned lock returns to the pool").toBe(d.id);
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: { startsWith: "task." } } })).toBeGreaterThan(4);
  });

  it("balanced groups: a reader gets the tasks assigned to them, in creation order, then an unassigned adjudication; never another reader's", async () => {
    const t = await saveTemplate(db.prisma, P, owner, "qc5", DEMO_QC_TEMPLATE);
    const [r0, r1] = [readers[3]!, readers[4]!];
    const g = await createGroup(db.prisma, P, owner, { label: "bal", templateId: t.templateId, experimentIds: experiments.slice(0, 4), readersPerCase: 1, distribution: "balanced", pool: [{ userId: r0, weight: 1 }, { userId: r1, weight: 1 }] });
    const mine = await db.prisma.task.findMany({ where: { groupId: g.groupId, assigneeId: r0 }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
    expect(mine.map((x) => x.experimentId), "bulk ids keep the experiments' order").toEqual([experiments[0], experiments[2]]);
    const extra = await db.prisma.task.create({ data: { projectId: P, groupId: g.groupId, templateVersionId: mine[0]!.templateVersionId, kind: "adjudication", caseKey: "other", priority: 10 } });
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await startNext(db.prisma, g.groupId, r0))?.id ?? null);
    expect(got).toEqual([mine[0]!.id, mine[1]!.id, extra.id, null]);
  });

  it("a template change keeps open tasks on their version", async () => {
    const t = await saveTemplate(db.prisma, P, owner, "qc3", DEMO_QC_TEMPLATE);
    const g = await createGroup(db.prisma, P, owner, { label: "ver", templateId: t.templateId, experimentIds: experiments.slice(0, 1), readersPerCase: 1, distribution: "pool", pool: [] });
    const v2 = await saveTemplate(db.prisma, P, owner, "qc3", DEMO_QC_TEMPLATE.replace("title: Scan quality control", "title: Scan QC v2"));
    expect(v2.version).toBe(2);
    const task = await db.prisma.task.findFirstOrThrow({ where: { groupId: g.groupId } });
    const view = await getTask(db.prisma, task.id, owner);
    expect(view.template.version).toBe(1);
    expect((view.template.definition as { title: string }).title).toBe("Scan quality control");
  });

  it("two readers who disagree get exactly one adjudication task, even when asked concurrently", async () => {
    const t = await saveTemplate(db.prisma, P, owner, "qc4", DEMO_QC_TEMPLATE);
    const g = await createGroup(db.prisma, P, owner, { label: "multi", templateId: t.templateId, experimentIds: experiments.slice(0, 2), readersPerCase: 2, distribution: "pool", pool: [] });
    const [r0, r1] = [readers[0]!, readers[1]!];
    const a0 = (await startNext(db.prisma, g.groupId, r0))!;
    const a1 = (await startNext(db.prisma, g.groupId, r1))!;
    const caseOf = async (id: string) => (await db.prisma.task.findUniqueOrThrow({ where: { id } })).caseKey;
    expect(await caseOf(a0.id)).toBeTruthy();
    // r0's next task is never the other read of a case r0 already holds.
    const b0 = (await startNext(db.prisma, g.groupId, r0))!;
    expect(await caseOf(b0.id)).not.toBe(await caseOf(a0.id));
    const b1 = (await startNext(db.prisma, g.groupId, r1))!;
    expect(await startNext(db.prisma, g.groupId, r0)).toBeNull();
    // Case of a0: r0 says yes, r1 (whichever of its tasks has that case) says no.
    const kA = await caseOf(a0.id);
    const r1SameCase = (await caseOf(a1.id)) === kA ? a1.id : b1.id;
    const r1Other = r1SameCase === a1.id ? b1.id : a1.id;
    await submit(db.prisma, a0.id, r0, { answers: { usable: "yes" } });
    await submit(db.prisma, r1SameCase, r1, { answers: { usable: "no", reason: ["motion"] } });
    await submit(db.prisma, b0.id, r0, { answers: { usable: "yes" } });
    await submit(db.prisma, r1Other, r1, { answers: { usable: "yes" } });
    await Promise.all([maybeAdjudicate(db.prisma, g.groupId, kA), maybeAdjudicate(db.prisma, g.groupId, kA), maybeAdjudicate(db.prisma, g.groupId, kA)]);
    const adj = await db.prisma.task.findMany({ where: { groupId: g.groupId, kind: "adjudication" } });
    expect(adj.length).toBe(1);
    expect(adj[0]!.caseKey).toBe(kA);
    expect((adj[0]!.adjudicates as { disagreements: { field: string }[] }).disagreements.map((d) => d.field)).toEqual(["usable", "reason"]);
    // Results for review and export, and agreement over the two complete cases.
    const res = await groupResults(db.prisma, P, g.groupId);
    expect(res.rows.filter((r) => r.version !== null)).toHaveLength(4);
    expect(res.rows.find((r) => r.taskId === a0.id)).toMatchObject({ answers: { usable: "yes" }, experimentLabel: expect.stringMatching(/^E\d$/), subjectLabel: "S1" });
    const csv = await groupExport(db.prisma, P, g.groupId, "csv");
    expect(csv.body.split("\r\n")[0]).toMatch(/^task,kind,case,/);
    expect((JSON.parse((await groupExport(db.prisma, P, g.groupId, "json")).body) as { dictionary: unknown[] }).dictionary.length).toBeGreaterThan(12);
    const ag = await groupAgreement(db.prisma, P, g.groupId);
    expect(ag.cases).toBe(2);
    expect(ag.questions.find((q) => q.question === "usable")!.statistic).toBe("Cohen's kappa");
  });
});
