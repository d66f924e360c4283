// docs/deploy.md's backup, taken while instances arrive, restores to a working Atrium with every
// acknowledged instance: storescu sends batches to a running `atrium worker` (DICOM listener and
// queues, PostgreSQL); in the middle, scripts/backup.sh dumps the database and then copies the data
// directory; scripts/restore.sh puts both into a fresh database and an empty directory; a new
// worker on them (empty queues, as after losing Redis) de-identifies what was pending. Every
// instance storescu saw acknowledged before the backup began is in the restored database with its
// file intact, and ends up de-identified.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../server/db";
import { readPart10Info } from "../../lib/dicom-net/part10";
import { adminUrl, createTestDatabase, databaseUrl } from "../helpers/pg";
import { freePort, startAtriumWorker, type WorkerProcess } from "../helpers/atrium-process";
import { makeCorpus, type Corpus } from "../helpers/corpus";
import { waitFor } from "../helpers/wait";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const N = 400;
const BATCH = 20;
const work = mkdtempSync(path.join(os.tmpdir(), "atrium-backup-"));
const dataDir = path.join(work, "data");
const restoredDir = path.join(work, "restored");
const backupDir = path.join(work, "backup");
const restoredDb = `atrium_t_restored_${process.pid}_${Date.now()}`;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let corpus: Corpus;
const workers: WorkerProcess[] = [];
let restored: Awaited<ReturnType<typeof openDb>> | null = null;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: "BAK", idLower: "bak", name: "Backup", aeRoutes: { create: { aeTitle: "BAK", allowedCallingAes: [], allowedAddresses: [] } } } });
  corpus = await makeCorpus(path.join(work, "corpus"), N);
}, 180_000);

afterAll(async () => {
  for (const w of workers) await w.stop("SIGKILL").catch(() => undefined);
  await restored?.close();
  const a = new pg.Client({ connectionString: adminUrl() });
  await a.connect();
  await a.query(`DROP DATABASE IF EXISTS "${restoredDb}" WITH (FORCE)`);
  await a.end();
  await db?.drop();
  rmSync(work, { recursive: true, force: true });
});

/** Runs a command; resolves with its exit code and output (never blocks the event loop). */
function run(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (out += d));
    c.on("close", (code) => resolve({ code, out }));
  });
}

interface Ack {
  file: string;
  at: number;
}

/** storescu -v, one association per batch: each file with the time its success status arrived. */
function sendBatch(files: string[], port: number, acks: Ack[]): Promise<number | null> {
  return new Promise((resolve) => {
    const c = spawn("storescu", ["-v", "-aec", "BAK", "127.0.0.1", String(port), ...files], { stdio: ["ignore", "ignore", "pipe"] });
    let buf = "";
    let current = "";
    c.stderr.on("data", (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const sending = /^I: Sending file: (.+)$/.exec(line);
        if (sending) current = sending[1]!.trim();
        else if (/^I: Received Store Response \(Success\)/.test(line)) acks.push({ file: current, at: Date.now() });
      }
    });
    c.on("close", (code) => resolve(code));
  });
}

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

describe("backup during intake, restore", () => {
  it("restores every instance acknowledged before the backup began, with its file, into a working Atrium", async () => {
    const dicomPort = await freePort();
    const prefix = `atrium-backup-${process.pid}`;
    workers.push(
      // As docs/deploy.md says for backups during intake: originals outlive the backup's duration.
      await startAtriumWorker({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_DICOM_PORT: String(dicomPort), ATRIUM_QUEUE_PREFIX: prefix, ATRIUM_STAGING_RETENTION_HOURS: "2" }),
    );

    // Intake: batches of BATCH files, one storescu association after another.
    const acks: Ack[] = [];
    const codes: (number | null)[] = [];
    let sending = true;
    const sender = (async () => {
      for (let k = 0; k < corpus.files.length; k += BATCH) codes.push(await sendBatch(corpus.files.slice(k, k + BATCH), dicomPort, acks));
      sending = false;
    })();

    // The backup, once a quarter has been acknowledged, while the rest is still arriving. Counted on
    // the acknowledgements this test has read, not the database's rows (a row is stored a moment
    // before its acknowledgement is read). Those read when the backup starts are the ones "before"
    // it, by position in `acks`, not by clock: one read in the backup's first millisecond was
    // counted out by `at < backupStart`, leaving the quarter one short.
    await waitFor("a quarter of the instances to be acknowledged", () => acks.length >= N / 4, { timeoutMs: 120_000, intervalMs: 50 });
    const ackedBeforeBackup = acks.length;
    const backupStart = Date.now();
    const backup = await run("bash", [path.join(ROOT, "scripts", "backup.sh"), backupDir], { DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir });
    const backupEnd = Date.now();
    expect(backup.code, backup.out).toBe(0);
    const stillSending = sending;
    await sender;
    expect(codes.every((c) => c === 0), `storescu exit codes ${codes.join(",")}`).toBe(true);
    expect(acks).toHaveLength(N);
    const before = acks.slice(0, ackedBeforeBackup);
    const during = acks.slice(ackedBeforeBackup).filter((a) => a.at <= backupEnd);
    // The backup really was taken during intake.
    expect(before.length).toBeGreaterThanOrEqual(N / 4);
    expect(before.length).toBeLessThan(N);
    expect(stillSending || during.length > 0).toBe(true);

    // Restore into a fresh database and an empty directory.
    const a = new pg.Client({ connectionString: adminUrl() });
    await a.connect();
    await a.query(`CREATE DATABASE "${restoredDb}"`);
    await a.end();
    const restoredUrl = databaseUrl(restoredDb);
    const restore = await run("bash", [path.join(ROOT, "scripts", "restore.sh"), backupDir], { DATABASE_URL: restoredUrl, ATRIUM_DATA_DIR: restoredDir });
    expect(restore.code, restore.out).toBe(0);
    restored = await openDb(restoredUrl);
    const rp = restored.prisma;

    // Every instance acknowledged before the backup began is in the restored database…
    const uidOf = new Map<string, string>();
    for (const f of corpus.files) uidOf.set(f, (await readPart10Info(f)).sopInstanceUid!);
    const rows = await rp.receivedInstance.findMany({ where: { projectId: "BAK" }, select: { sopInstanceUid: true, stagingPath: true, sha256: true, sizeBytes: true, status: true, outputPath: true } });
    const restoredUids = new Set(rows.map((r) => r.sopInstanceUid));
    const missing = before.filter((b) => !restoredUids.has(uidOf.get(b.file)!));
    expect(missing.map((m) => path.basename(m.file))).toEqual([]);
    // …and every restored row has its files, byte for byte.
    const badFiles = rows.filter((r) => {
      const f = path.join(restoredDir, r.stagingPath);
      return !existsSync(f) || statSync(f).size !== r.sizeBytes || sha256(f) !== r.sha256 || (r.outputPath !== null && !existsSync(path.join(restoredDir, r.outputPath)));
    });
    expect(badFiles.map((r) => r.stagingPath)).toEqual([]);
    const pendingAtBackup = rows.filter((r) => r.status === "received").length;

    // A working Atrium on the restored data: a new worker (empty queues) finishes what was pending.
    workers.push(
      await startAtriumWorker({ DATABASE_URL: restoredUrl, ATRIUM_DATA_DIR: restoredDir, ATRIUM_DICOM_PORT: "0", ATRIUM_QUEUE_PREFIX: `${prefix}-restored` }),
    );
    await waitFor("the restored Atrium to de-identify what was pending", async () => (await rp.receivedInstance.count({ where: { projectId: "BAK", status: "received" } })) === 0, {
      timeoutMs: 180_000,
      intervalMs: 200,
    });
    const after = await rp.receivedInstance.findMany({ where: { projectId: "BAK" }, select: { status: true, outputPath: true } });
    expect(after.filter((r) => r.status !== "deidentified")).toEqual([]);
    expect(after.filter((r) => !existsSync(path.join(restoredDir, r.outputPath!)))).toEqual([]);

    console.log(
      `backup during intake: ${N} sent and acknowledged; ${before.length} acknowledged before the backup began, ${during.length} during it ` +
        `(${backupEnd - backupStart} ms); restored ${rows.length} instances (${pendingAtBackup} still to de-identify at backup time), ` +
        `all ${before.length} acknowledged-before present with intact files; after restore ${after.length} de-identified, 0 lost`,
    );
  }, 600_000);
});
