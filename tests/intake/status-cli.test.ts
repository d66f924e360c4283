// `atrium status` for operators and scripts.
import { afterAll, beforeAll, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { ROOT } from "../helpers/atrium-process";

const run = promisify(execFile);
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: "STAT", idLower: "stat", name: "Status project" } });
  const base = { channel: "cstore" as const, batchId: "a", stagingPath: "staging/x.dcm", sizeBytes: 1, sha256: "0".repeat(64), projectId: "STAT" };
  await db.prisma.receivedInstance.createMany({
    data: [{ ...base, status: "deidentified" }, { ...base, status: "quarantined", reason: "Truncated: the file ends inside an element." }],
  });
});
afterAll(async () => db?.drop());

const atrium = (args: string[]) =>
  run(process.execPath, [path.join(ROOT, "bin", "atrium.mjs"), ...args], { env: { ...process.env, DATABASE_URL: db.url } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

it("prints the counts as JSON for scripts", async () => {
  const r = await atrium(["status", "--project", "STAT", "--json"]);
  expect(r.code).toBe(0);
  const s = JSON.parse(r.stdout);
  expect(s.instances).toMatchObject({ total: 2, deidentified: 1, quarantined: 1 });
  expect(s.quarantineReasons).toEqual([{ reason: "Truncated: the file ends inside an element.", count: 1 }]);
});

it("prints them for people, and says what is wrong with a bad project id", async () => {
  const r = await atrium(["status", "--project", "STAT"]);
  expect(r.stdout).toMatch(/instances: 2 received · 1 de-identified .* 1 quarantined/);
  const missing = await atrium(["status", "--project", "NOPE"]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/no project "NOPE"/);
  const none = await atrium(["status"]);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/--project ID is required/);
});

it("reads the same figures over plain pg as the portal does through Prisma, timestamps included", async () => {
  const { intakeSummary } = await import("@/server/intake/summary");
  await db.prisma.intakeStudy.create({
    data: { projectId: "STAT", studyInstanceUid: "2.25.7", subjectLabel: "SUBJ-0007", instanceCount: 3, lastInstanceAt: new Date("2026-03-04T05:06:07.089Z") },
  });
  const r = await atrium(["status", "--project", "STAT", "--json"]);
  expect(r.code).toBe(0);
  const viaPg = JSON.parse(r.stdout);
  const viaPrisma = JSON.parse(JSON.stringify(await intakeSummary(db.prisma, "STAT")));
  // What depends on the moment of reading (the live window, a study's progress) is compared apart.
  for (const s of [viaPg, viaPrisma]) {
    for (const st of s.live.recentStudies) delete st.progress;
    expect(s.live.activeBatches.length).toBeLessThanOrEqual(1);
    delete s.live.instancesPerSecond;
    delete s.live.instancesInWindow;
    delete s.live.activeBatches;
  }
  expect(viaPg.live.recentStudies).toEqual([expect.objectContaining({ subjectLabel: "SUBJ-0007", instanceCount: 3, lastInstanceAt: "2026-03-04T05:06:07.089Z" })]);
  expect(viaPg.lastReceivedAt).toBe((await db.prisma.receivedInstance.findFirstOrThrow({ orderBy: { receivedAt: "desc" } })).receivedAt.toISOString());
  expect(viaPg).toEqual(viaPrisma);
});
