// Issue #14 review mode, on real PostgreSQL: in a group with review, a submitted read waits for an
// owner; returned, it goes back to its reader (assigned to them, their answers restored as a draft,
// the comment shown) and their next submit is a new result version; accepted, it is done and its
// callbacks run. Audited; a review of a task not waiting for one is refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { createTestDatabase } from "../helpers/pg";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { reviewInput } from "@/lib/tasks/api";
import { createGroup, getTask, reviewTask, saveTemplate, startNext, submit } from "@/server/tasks/ops";

const P = "REVIEWS";
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let owner = "";
let reader = "";
let groupId = "";

beforeAll(async () => {
  db = await createTestDatabase();
  owner = (await db.prisma.user.create({ data: { email: "owner@review.test" } })).id;
  reader = (await db.prisma.user.create({ data: { email: "reader@review.test" } })).id;
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Reviews", members: { create: [{ userId: owner, role: "owner" }, { userId: reader, role: "member" }] } } });
  const subj = await db.prisma.archiveSubject.create({ data: { projectId: P, label: "S1" } });
  const exp = await db.prisma.archiveExperiment.create({ data: { projectId: P, subjectId: subj.id, label: "S1_MR", studyInstanceUid: "2.25.515", scans: { create: { seriesInstanceUid: "1.2.515", modality: "MR", seriesDescription: "T1", instanceCount: 30 } } } });
  const t = await saveTemplate(db.prisma, P, owner, "scan-qc", DEMO_QC_TEMPLATE);
  groupId = (await createGroup(db.prisma, P, owner, { label: "Reviewed QC", templateId: t.templateId, experimentIds: [exp.id], readersPerCase: 1, distribution: "pool", pool: [], review: true })).groupId;
});
afterAll(async () => {
  await db?.drop();
});

describe("review of submitted reads", () => {
  it("returned goes back to its reader with the answers and the comment; resubmitted and accepted is done", async () => {
    expect((await db.prisma.taskGroup.findUniqueOrThrow({ where: { id: groupId } })).review).toBe(true);
    const t = (await startNext(db.prisma, groupId, reader))!;
    expect((await submit(db.prisma, t.id, reader, { answers: { usable: "no", reason: ["motion"] }, annotations: [] }, P)).state).toBe("submitted");

    // A return needs a comment that says what to change.
    expect(reviewInput.safeParse({ taskId: t.id, decision: "returned", comment: "" }).success).toBe(false);
    expect(await reviewTask(db.prisma, t.id, owner, "returned", "Motion is mild: check the sagittal series.", P)).toEqual({ state: "queued" });
    const back = await db.prisma.task.findUniqueOrThrow({ where: { id: t.id }, include: { drafts: true } });
    expect(back).toMatchObject({ state: "queued", review: "returned", reviewComment: "Motion is mild: check the sagittal series.", assigneeId: reader, readerId: null });
    expect(back.drafts.map((d) => [d.userId, d.answers])).toEqual([[reader, { usable: "no", reason: ["motion"] }]]);

    // Their next "start next" gives it back to them; the task shows the comment and the restored draft.
    expect((await startNext(db.prisma, groupId, reader))!.id).toBe(t.id);
    const view = await getTask(db.prisma, t.id, reader, P);
    expect(view.reviewComment).toBe("Motion is mild: check the sagittal series.");
    expect(await submit(db.prisma, t.id, reader, { answers: { usable: "borderline", reason: ["motion"] }, annotations: [] }, P)).toMatchObject({ version: 2, state: "submitted" });

    expect(await reviewTask(db.prisma, t.id, owner, "accepted", "", P)).toEqual({ state: "done" });
    const done = await db.prisma.task.findUniqueOrThrow({ where: { id: t.id }, include: { results: { orderBy: { version: "asc" } } } });
    expect(done).toMatchObject({ state: "done", review: "accepted" });
    expect(done.doneAt).not.toBeNull();
    expect(done.results.map((r) => [r.version, (r.answers as { usable: string }).usable])).toEqual([[1, "no"], [2, "borderline"]]);
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "task.review", targetId: t.id } })).toBe(2);

    const again = await reviewTask(db.prisma, t.id, owner, "accepted", "", P).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(TRPCError);
    expect((again as TRPCError).code).toBe("CONFLICT");
    expect((again as TRPCError).message).toBe("Only a submitted read waits for review (this task is done).");
    expect(((await reviewTask(db.prisma, t.id, owner, "accepted", "", "OTHER").catch((e: unknown) => e)) as TRPCError).code).toBe("NOT_FOUND");
  });
});
