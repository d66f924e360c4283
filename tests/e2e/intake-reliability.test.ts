// Nothing acknowledged is lost, nothing is stored twice.
// 1. 1,000 instances arrive by C-STORE at a dedicated receiver (`atrium worker --no-queues`) while
//    one of two de-identification workers is killed with SIGKILL and Redis is restarted empty (all
//    queued jobs gone) — while the sender is still sending. The other worker lives through the
//    restart and, alone, de-identifies every instance exactly once (the live sweep).
// 2. The receiver itself is killed with SIGKILL in the middle of a send: every instance storescu
//    saw succeed (its verbose output, per instance) is recorded and de-identified; a resend to a new
//    receiver completes the rest, and what was already held is recorded as a duplicate, not stored twice.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPart10Info } from "@/lib/dicom-net/part10";
import { createTestDatabase } from "../helpers/pg";
import { freePort, startAtriumWorker, type WorkerProcess } from "../helpers/atrium-process";
import { makeCorpus, type Corpus } from "../helpers/corpus";
import { waitFor } from "../helpers/wait";

const N = 1000;
const M = 300;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let receiver: WorkerProcess;
let receiverPort: number;
let workers: WorkerProcess[] = [];
let redis: ChildProcess | null = null;
let redisPort: number;
let corpus: Corpus;
let corpus2: Corpus;
/** SOP Instance UID of every corpus file. */
const uidOf = new Map<string, string>();
const work = mkdtempSync(path.join(os.tmpdir(), "atrium-reliability-"));
const dataDir = path.join(work, "data");

async function startRedis(): Promise<ChildProcess> {
  const child = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const p = spawn("redis-cli", ["-p", String(redisPort), "ping"], { stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      p.stdout.on("data", (d) => (out += d));
      p.on("close", () => resolve(out.includes("PONG")));
    });
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("redis-server did not start");
}

async function stopRedis() {
  if (!redis) return;
  const r = redis;
  redis = null;
  const exited = new Promise((res) => r.once("exit", res));
  r.kill("SIGKILL");
  await exited;
}

const env = () => ({
  DATABASE_URL: db.url,
  REDIS_URL: `redis://127.0.0.1:${redisPort}`,
  ATRIUM_DATA_DIR: dataDir,
  ATRIUM_QUEUE_PREFIX: "reliability",
});

async function startReceiver() {
  receiverPort = await freePort();
  receiver = await startAtriumWorker({ ...env(), ATRIUM_DICOM_PORT: String(receiverPort) }, ["--no-queues"]);
}

interface Send {
  /** true once storescu has exited */
  done(): boolean;
  result: Promise<{ code: number | null; output: string; succeeded: string[] }>;
}

/**
 * storescu -v over `dirs`. `succeeded` lists the SOP Instance UIDs of the files storescu reports a
 * Success response for, from its verbose output ("Sending file: …" then "Received Store Response (Success)").
 */
function storescu(aet: string, dirs: string[]): Send {
  let done = false;
  const result = new Promise<{ code: number | null; output: string; succeeded: string[] }>((resolve) => {
    const c = spawn("storescu", ["-v", "-aec", aet, "+sd", "127.0.0.1", String(receiverPort), ...dirs], { env: { ...process.env, TCP_NODELAY: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    // The log (-v) goes to stderr; the progress dots ("XMIT: ...") to stdout, not mixed in.
    let output = "";
    c.stdout.resume();
    c.stderr.on("data", (d) => (output += d));
    c.on("close", (code) => {
      done = true;
      const succeeded: string[] = [];
      let current = "";
      for (const line of output.split("\n")) {
        const m = /^I: Sending file: (.*)$/.exec(line);
        if (m) current = m[1]!;
        if (/^I: Received Store Response \(Success\)/.test(line)) {
          const uid = uidOf.get(current);
          if (!uid) throw new Error(`storescu reported success for a file outside the corpus: ${current}`);
          succeeded.push(uid);
        }
      }
      resolve({ code, output, succeeded });
    });
  });
  return { done: () => done, result };
}

async function counts(projectId: string) {
  const rows = await db.prisma.receivedInstance.groupBy({ by: ["status"], where: { projectId }, _count: true });
  return Object.fromEntries(rows.map((r) => [r.status, r._count])) as Record<string, number>;
}
const recordedUids = async (projectId: string) =>
  new Set((await db.prisma.receivedInstance.findMany({ where: { projectId }, select: { sopInstanceUid: true } })).map((r) => r.sopInstanceUid!));

const waitForCounts = (projectId: string, what: string, fn: (c: Record<string, number>) => boolean, timeoutMs: number) =>
  waitFor(what, async () => fn(await counts(projectId)), { timeoutMs, intervalMs: 200, detail: async () => JSON.stringify(await counts(projectId)) });

/** Exactly once: one claim per instance, one non-empty file per claim, one study increment per instance. */
async function expectStoredOnce(projectId: string, n: number) {
  expect(await db.prisma.projectSopInstance.count({ where: { projectId } })).toBe(n);
  const outputs = await db.prisma.receivedInstance.findMany({ where: { projectId, status: "deidentified" }, select: { outputPath: true } });
  expect(outputs).toHaveLength(n);
  expect(new Set(outputs.map((o) => o.outputPath)).size).toBe(n);
  expect(outputs.filter((o) => !(statSync(path.join(dataDir, o.outputPath!)).size > 0))).toEqual([]);
  const studies = await db.prisma.intakeStudy.findMany({ where: { projectId } });
  expect(studies.reduce((k, s) => k + s.instanceCount, 0)).toBe(n);
  // No half-written file left behind by a killed process is mistaken for an instance.
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(path.join(d, e.name)) : files.push(e.name);
  };
  walk(path.join(dataDir, "projects", projectId));
  expect(files.filter((f) => f.endsWith(".dcm")).length).toBe(n);
}

beforeAll(async () => {
  db = await createTestDatabase();
  for (const id of ["REL", "RK"]) {
    await db.prisma.project.create({ data: { id, idLower: id.toLowerCase(), name: id, aeRoutes: { create: { aeTitle: id, allowedCallingAes: [], allowedAddresses: [] } } } });
  }
  corpus = await makeCorpus(path.join(work, "corpus"), N, 1);
  corpus2 = await makeCorpus(path.join(work, "corpus2"), M, 1);
  for (const f of [...corpus.files, ...corpus2.files]) uidOf.set(f, (await readPart10Info(f)).datasetSopInstanceUid!);
  expect(new Set(uidOf.values()).size).toBe(N + M);
  redisPort = await freePort();
  redis = await startRedis();
  await startReceiver();
}, 300_000);

afterAll(async () => {
  for (const w of workers) await w.stop("SIGKILL");
  await receiver?.stop("SIGKILL");
  await stopRedis();
  await db?.drop();
  rmSync(work, { recursive: true, force: true });
});

describe("C-STORE intake through SIGKILLs and a Redis restart", () => {
  it("a de-identification worker killed and Redis restarted mid-send: the surviving worker de-identifies every acknowledged instance exactly once", async () => {
    const sending = storescu("REL", corpus.dirs);
    const doomed = await startAtriumWorker({ ...env(), ATRIUM_DICOM_PORT: "0" });
    const live = await startAtriumWorker({ ...env(), ATRIUM_DICOM_PORT: "0" });
    workers.push(doomed, live);
    // Kill one worker in the middle of the work: some de-identified, many still to do.
    await waitForCounts("REL", "the first de-identified instances", (c) => (c.deidentified ?? 0) >= 50, 240_000);
    await doomed.stop("SIGKILL");
    const atKill = await counts("REL");
    expect(atKill.deidentified ?? 0).toBeLessThan(N);

    // Redis restarted empty: every queued and active job is gone — while the sender is still sending.
    await stopRedis();
    await new Promise((r) => setTimeout(r, 500));
    redis = await startRedis();
    const recordedAtRestart = await db.prisma.receivedInstance.count({ where: { projectId: "REL" } });
    expect(sending.done(), "the sender was still sending when Redis came back").toBe(false);
    expect(recordedAtRestart, "instances still to arrive after the Redis restart").toBeLessThan(N);

    const sent = await sending.result;
    expect(sent.code, sent.output.slice(-500)).toBe(0);
    // Every instance storescu saw succeed is recorded, and nothing else.
    expect(sent.succeeded).toHaveLength(N);
    expect([...(await recordedUids("REL"))].sort()).toEqual([...sent.succeeded].sort());

    // No new worker: the one that lived through the restart re-derives the lost jobs from the database.
    await waitForCounts("REL", "every instance to reach an outcome with the surviving worker alone", (c) => (c.received ?? 0) === 0, 180_000);
    expect(live.child.exitCode, live.output().slice(-2000)).toBeNull();
    expect(live.child.signalCode).toBeNull();
    expect(await counts("REL")).toEqual({ deidentified: N });
    await expectStoredOnce("REL", N);
  }, 900_000);

  it("the receiver killed with SIGKILL mid-send: what storescu saw succeed is recorded and de-identified; a resend completes the rest exactly once", async () => {
    if (!workers.some((w) => w.child.exitCode === null && w.child.signalCode === null)) workers.push(await startAtriumWorker({ ...env(), ATRIUM_DICOM_PORT: "0" }));
    const sending = storescu("RK", corpus2.dirs);
    await waitFor("a quarter of the instances recorded", async () => (await db.prisma.receivedInstance.count({ where: { projectId: "RK" } })) >= M / 4, { timeoutMs: 120_000, intervalMs: 20 });
    await receiver.stop("SIGKILL");
    const cut = await sending.result;
    expect(cut.code, "storescu reports the lost association").not.toBe(0);
    const ok = new Set(cut.succeeded);
    expect(ok.size, "killed mid-send: some acknowledged").toBeGreaterThan(0);
    expect(ok.size, "killed mid-send: not all acknowledged").toBeLessThan(M);

    // Every instance storescu saw succeed is recorded; beyond those, at most the one in flight
    // (stored and recorded, its response lost with the process).
    const recorded = await recordedUids("RK");
    expect([...ok].filter((u) => !recorded.has(u)), "acknowledged but not recorded").toEqual([]);
    expect(recorded.size - ok.size).toBeLessThanOrEqual(1);
    // ... and de-identified, with the receiver gone.
    await waitForCounts("RK", "every recorded instance to reach an outcome", (c) => (c.received ?? 0) === 0, 180_000);
    expect(await counts("RK")).toEqual({ deidentified: recorded.size });

    // A new receiver (the same data directory) and a resend of everything: the rest arrives, what
    // the project already holds is recorded as a duplicate and not stored twice.
    await startReceiver();
    const again = await storescu("RK", corpus2.dirs).result;
    expect(again.code, again.output.slice(-500)).toBe(0);
    expect(new Set(again.succeeded).size).toBe(M);
    await waitForCounts("RK", "the resent instances to reach an outcome", (c) => (c.received ?? 0) === 0 && (c.deidentified ?? 0) + (c.duplicate ?? 0) === M + recorded.size, 180_000);
    expect(await counts("RK")).toEqual({ deidentified: M, duplicate: recorded.size });
    await expectStoredOnce("RK", M);
  }, 900_000);
});
