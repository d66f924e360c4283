// `atrium seed-demo`'s task part: the QC template, the "Demo QC" group topped up with experiments
// archived later, and --readers N accounts as members in the group's pool.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { ensureDemoTasks } from "@/server/tasks/demo";
import { startNext } from "@/server/tasks/ops";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: "DEMO", idLower: "demo", name: "Demo", accessibility: "public" } });
});
afterAll(async () => db?.drop());

describe("seed-demo tasks", () => {
  it("creates the template and group, adds tasks as experiments arrive, and reader accounts in the pool", async () => {
    const p = db.prisma;
    const first = await ensureDemoTasks(p, "DEMO", { readers: 2 });
    expect(first).toMatchObject({ tasks: 0, readers: ["reader1@demo.invalid", "reader2@demo.invalid"] });
    const subj = await p.archiveSubject.create({ data: { projectId: "DEMO", label: "S" } });
    for (let i = 0; i < 3; i++) {
      const e = await p.archiveExperiment.create({ data: { projectId: "DEMO", subjectId: subj.id, label: `E${i}`, studyInstanceUid: `2.25.9${i}`, modalities: ["MR"] } });
      await p.archiveScan.create({ data: { experimentId: e.id, seriesInstanceUid: `2.25.9${i}.1`, modality: "MR", seriesDescription: "T1", instanceCount: 30, seriesNumber: 1 } });
    }
    const second = await ensureDemoTasks(p, "DEMO", { readers: 2 });
    expect(second).toMatchObject({ tasksAdded: 6, tasks: 6 }); // two reads per case with two readers
    expect((await ensureDemoTasks(p, "DEMO", {})).tasksAdded).toBe(0);
    expect(await p.taskTemplate.count({ where: { projectId: "DEMO" } })).toBe(1);
    const r1 = await p.user.findUniqueOrThrow({ where: { email: "reader1@demo.invalid" } });
    expect(await p.projectMember.findUnique({ where: { projectId_userId: { projectId: "DEMO", userId: r1.id } } })).toMatchObject({ role: "member" });
    expect(await startNext(p, second.groupId, r1.id)).not.toBeNull();
  });
});
