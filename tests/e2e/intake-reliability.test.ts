// Nothing acknowledged is lost, nothing is stored twice: 1,000 instances arrive by C-STORE at a
// dedicated receiver (`atrium worker --no-queues`) while a separate de-identification worker is
// killed with SIGKILL and Redis is restarted empty (all queued jobs gone). After a new worker
// starts, every instance is de-identified exactly once.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { freePort, startAtriumWorker, type WorkerProcess } from "../helpers/atrium-process";
import { makeCorpus, type Corpus } from "../helpers/corpus";
import { waitFor } from "../helpers/wait";

const N = 1000;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let receiver: WorkerProcess;
let workers: WorkerProcess[] = [];
let redis: ChildProcess | null = null;
let redisPort: number;
let corpus: Corpus;
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

async function counts() {
  const rows = await db.prisma.receivedInstance.groupBy({ by: ["status"], where: { projectId: "REL" }, _count: true });
  return Object.fromEntries(rows.map((r) => [r.status, r._count])) as Record<string, number>;
}

const waitForCounts = (what: string, fn: () => Promise<boolean>, timeoutMs: number) =>
  waitFor(what, fn, { timeoutMs, intervalMs: 200, detail: async () => JSON.stringify(await counts()) });

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: "REL", idLower: "rel", name: "Reliability", aeRoutes: { create: { aeTitle: "REL", allowedCallingAes: [], allowedAddresses: [] } } } });
  corpus = await makeCorpus(path.join(work, "corpus"), N, 1);
  redisPort = await freePort();
  redis = await startRedis();
  const dicomPort = await freePort();
  receiver = await startAtriumWorker({ ...env(), ATRIUM_DICOM_PORT: String(dicomPort) }, ["--no-queues"]);
  (receiver as WorkerProcess & { port?: number }).port = dicomPort;
}, 300_000);

afterAll(async () => {
  for (const w of workers) await w.stop("SIGKILL");
  await receiver?.stop("SIGKILL");
  await stopRedis();
  await db?.drop();
  rmSync(work, { recursive: true, force: true });
});

describe("a de-identification worker killed and Redis restarted during a 1,000-instance intake", () => {
  it("de-identifies every acknowledged instance exactly once", async () => {
    const port = (receiver as WorkerProcess & { port?: number }).port!;
    const sending = new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn("storescu", ["-aec", "REL", "+sd", "127.0.0.1", String(port), ...corpus.dirs], { env: { ...process.env, TCP_NODELAY: "1" }, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      c.stderr.on("data", (d) => (err += d));
      c.on("close", (code) => resolve({ code, err }));
    });

    workers.push(await startAtriumWorker({ ...env(), ATRIUM_DICOM_PORT: "0" }));
    // Kill the worker in the middle of the work: some de-identified, many still to do.
    await waitForCounts("the first de-identified instances", async () => ((await counts()).deidentified ?? 0) >= 50 || false, 240_000);
    await workers[0]!.stop("SIGKILL");
    const atKill = await counts();
    expect(atKill.deidentified ?? 0).toBeLessThan(N);

    // Redis restarted empty: every queued and active job is gone.
    await stopRedis();
    await new Promise((r) => setTimeout(r, 500));
    redis = await startRedis();

    const sent = await sending;
    expect(sent.code, sent.err.slice(0, 500)).toBe(0);
    // Every instance the sender was told about is recorded.
    expect(await db.prisma.receivedInstance.count({ where: { projectId: "REL" } })).toBe(N);

    workers.push(await startAtriumWorker({ ...env(), ATRIUM_DICOM_PORT: "0" }));
    await waitForCounts("every instance to reach an outcome", async () => ((await counts()).received ?? 0) === 0 || false, 300_000);

    const final = await counts();
    expect(final).toEqual({ deidentified: N });
    // Exactly once: one claim per instance, one file per claim, one increment per instance.
    expect(await db.prisma.projectSopInstance.count({ where: { projectId: "REL" } })).toBe(N);
    const outputs = await db.prisma.receivedInstance.findMany({ where: { projectId: "REL" }, select: { outputPath: true } });
    expect(new Set(outputs.map((o) => o.outputPath)).size).toBe(N);
    for (const o of outputs) expect(statSync(path.join(dataDir, o.outputPath!)).size).toBeGreaterThan(0);
    const studies = await db.prisma.intakeStudy.findMany({ where: { projectId: "REL" } });
    expect(studies.reduce((n, s) => n + s.instanceCount, 0)).toBe(N);
    // No half-written file left behind by the killed worker is mistaken for an instance.
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(path.join(d, e.name)) : files.push(e.name);
    };
    walk(path.join(dataDir, "projects", "REL"));
    expect(files.filter((f) => f.endsWith(".dcm")).length).toBe(N);
  }, 900_000);
});
