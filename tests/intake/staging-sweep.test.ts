// The staging sweep (issue 17 §5): staged originals of finished instances (de-identified,
// duplicate, skipped) are deleted, at once or after ATRIUM_STAGING_RETENTION_HOURS; quarantined
// and pending ones stay; files no row refers to are deleted once old (never acknowledged);
// interrupted `.partial` files and zip upload spools (`*.zip.partial`) are cleaned at worker start
// and periodically.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { setDbHandle } from "@/server/db";
import { SAMPLES_DIR } from "@/lib/samples";
import { sweepStaging } from "@/server/intake/staging";
import { stageFile } from "../archive/helpers-intake";
import { emptyQueuesAndDisconnect } from "../helpers/queues";
import { waitFor } from "../helpers/wait";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-staging-sweep-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-sweep-${process.pid}-${randomBytes(3).toString("hex")}`;
const CT = path.join(SAMPLES_DIR, "pydicom__CT_small.dcm");
const HOUR = 3_600_000;

let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  await db.prisma.project.create({ data: { id: "SWEEP", idLower: "sweep", name: "SWEEP" } });
});
afterAll(async () => {
  delete process.env.ATRIUM_STAGING_RETENTION_HOURS;
  await emptyQueuesAndDisconnect(["deid", "archive", "intake-stability", "health", "webhook-pull"]);
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function staged(status: "received" | "deidentified" | "duplicate" | "skipped" | "quarantined") {
  const inst = await stageFile(db.prisma, dataDir, "SWEEP", CT, `sweep-${status}`);
  const row = await db.prisma.receivedInstance.update({ where: { id: inst.id }, data: { status } });
  return path.join(dataDir, row.stagingPath);
}

/** A file written `ageMs` ago. */
function plant(rel: string, ageMs: number): string {
  const file = path.join(dataDir, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, "bytes of an interrupted receive");
  const t = (Date.now() - ageMs) / 1000;
  utimesSync(file, t, t);
  return file;
}

describe("sweepStaging", () => {
  it("deletes originals of finished instances; keeps pending and quarantined ones", async () => {
    delete process.env.ATRIUM_STAGING_RETENTION_HOURS;
    const files = { deid: await staged("deidentified"), dup: await staged("duplicate"), skip: await staged("skipped"), pending: await staged("received"), quarantined: await staged("quarantined") };
    const r = await sweepStaging(db.prisma, dataDir);
    expect(r.finished).toBe(3);
    expect([files.deid, files.dup, files.skip].map(existsSync)).toEqual([false, false, false]);
    expect(existsSync(files.pending)).toBe(true);
    // Quarantine keeps its file until resolved, however long that takes.
    await sweepStaging(db.prisma, dataDir, Date.now() + 1000 * HOUR);
    expect(existsSync(files.quarantined)).toBe(true);
    await db.prisma.receivedInstance.deleteMany({});
    rmSync(files.pending);
    rmSync(files.quarantined);
  });

  it("with ATRIUM_STAGING_RETENTION_HOURS, keeps a finished original for that long, then deletes it", async () => {
    process.env.ATRIUM_STAGING_RETENTION_HOURS = "2";
    try {
      const file = await staged("deidentified");
      expect((await sweepStaging(db.prisma, dataDir)).finished).toBe(0);
      expect((await sweepStaging(db.prisma, dataDir, Date.now() + 1.5 * HOUR)).finished).toBe(0);
      expect(existsSync(file)).toBe(true);
      expect((await sweepStaging(db.prisma, dataDir, Date.now() + 2.1 * HOUR)).finished).toBe(1);
      expect(existsSync(file)).toBe(false);
    } finally {
      delete process.env.ATRIUM_STAGING_RETENTION_HOURS;
      await db.prisma.receivedInstance.deleteMany({});
    }
  });

  it("deletes old files no row refers to and interrupted partial files and zip spools; recent ones stay", async () => {
    const oldOrphan = plant("staging/upload/0a0a.dcm", 25 * HOUR);
    const newOrphan = plant("staging/upload/0b0b.dcm", 60_000);
    const oldPartial = plant("staging/cstore/0c0c.partial", 2 * HOUR);
    const newPartial = plant("staging/cstore/0d0d.partial", 60_000);
    const oldSpool = plant("staging/upload-zip/0e0e.zip.partial", 2 * HOUR);
    const newSpool = plant("staging/upload-zip/0f0f.zip.partial", 60_000);
    const r = await sweepStaging(db.prisma, dataDir);
    expect(r).toMatchObject({ orphans: 2, spools: 1 });
    expect([oldOrphan, oldPartial, oldSpool].map(existsSync)).toEqual([false, false, false]);
    expect([newOrphan, newPartial, newSpool].map(existsSync)).toEqual([true, true, true]);
    for (const f of [newOrphan, newPartial, newSpool]) rmSync(f);
  });
});

it("the workers clean interrupted zip upload spools and finished originals when they start", async () => {
  const spool = plant("staging/upload-zip/1a1a.zip.partial", 2 * HOUR);
  const finished = await staged("deidentified");
  const { startWorkers } = await import("@/workers");
  const workers = await startWorkers();
  try {
    await waitFor("the start sweep", () => !existsSync(spool) && !existsSync(finished));
  } finally {
    await workers.close(5_000);
  }
}, 30_000);
