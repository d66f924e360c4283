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
