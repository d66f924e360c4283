// Issue #16: `atrium workflow import FILE --project P [--adopt] [--json]` and `atrium experiments
// --project P [--state S] [--json]` against real PostgreSQL (DATABASE_URL), as operators run them.
import { afterAll, beforeAll, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { createTestDatabase } from "../helpers/pg";
import { ROOT } from "../helpers/atrium-process";

const run = promisify(execFile);
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-gov-cli-"));
const prefix = `atrium-gov-cli-${randomBytes(3).toString("hex")}`;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: "WFCLI", idLower: "wfcli", name: "Workflow CLI" } });
  const subj = await db.prisma.archiveSubject.create({ data: { projectId: "WFCLI", label: "S01" } });
  for (const i of [1, 2]) await db.prisma.archiveExperiment.create({ data: { projectId: "WFCLI", subjectId: subj.id, label: `S01_E${i}`, studyInstanceUid: `2.25.99${i}` } });
});
afterAll(async () => {
  const { Queue } = await import("bullmq");
  const q = new Queue("governor", { connection: { host: "127.0.0.1", port: 6379 }, prefix });
  await q.obliterate({ force: true }).catch(() => undefined);
  await q.close();
  await db?.drop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const atrium = (args: string[]) =>
  run(process.execPath, [path.join(ROOT, "bin", "atrium.mjs"), ...args], { env: { ...process.env, DATABASE_URL: db.url, ATRIUM_QUEUE_PREFIX: prefix } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

it("refuses a file it cannot map, with the line and the reason, and installs nothing", async () => {
  const bad = path.join(tmp, "bad.yaml");
  fs.writeFileSync(bad, "label: bad\nstates:\n  - {label: a, transitions: [{destination: b}]}\n  - label: b\n    callbacks: [{label: py, function: python_function}]\n    transitions: [{destination: a, condition: \"experiment.label ==\"}]\n");
  const r = await atrium(["workflow", "import", bad, "--project", "WFCLI"]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/bad\.yaml:5: callback 'py': python_function runs arbitrary Python/);
  expect(await db.prisma.governorWorkflow.count()).toBe(0);
  const json = await atrium(["workflow", "import", bad, "--project", "WFCLI", "--json"]);
  expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, problems: [{ line: 5 }] });
});

it("imports the shipped pre-6 example with its warning, adopts the project's experiments, and lists them", async () => {
  const r = await atrium(["workflow", "import", path.join(ROOT, "workflows/examples/notify_pre6.yaml"), "--project", "WFCLI", "--adopt"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/Imported score_and_notify as version 1 of WFCLI's workflow \(pre6 format\)/);
  expect(r.stdout).toMatch(/warning: .*notify_pre6\.yaml:\d+: 'lifespan'/);
  expect(r.stdout).toMatch(/Started 2 experiment\(s\)/);
  // No worker runs here: evaluate the queued experiments directly, as the governor worker would.
  const { evaluateExperiment } = await import("@/server/governor/engine");
  const collect = { evaluate: async () => undefined, run: async () => undefined };
  for (const g of await db.prisma.governorExperiment.findMany()) await evaluateExperiment(db.prisma, g.id, { scheduler: collect });
  const list = await atrium(["experiments", "--project", "WFCLI", "--json"]);
  expect(list.code).toBe(0);
  const rows = JSON.parse(list.stdout) as { label: string; state: string; workflow: string; waitingFor: string }[];
  expect(rows.map((x) => [x.label, x.state, x.workflow]).sort()).toEqual([
    ["S01_E1", "scoring", "score_and_notify v1"],
    ["S01_E2", "scoring", "score_and_notify v1"],
  ]);
  expect(rows[0]!.waitingFor).toMatch(/score \(created\)/);
  const human = await atrium(["experiments", "--project", "WFCLI", "--state", "scoring"]);
  expect(human.stdout).toMatch(/S01_E1\s+scoring\s+\d+s\s+waiting for score/);
  expect(human.stdout).toMatch(/2 experiment\(s\): 2 scoring/);
  const none = await atrium(["experiments", "--project", "NOPE"]);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/no project "NOPE"/);
});
