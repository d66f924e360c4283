// Intake after receipt: each recorded instance is de-identified once with its project's settings,
// resends are recorded as duplicates, bad files are quarantined with a reason, studies become
// stable after their quiet period — through the real workers on the real Redis.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { createTestDatabase } from "../helpers/pg";
// Patients are stored under a keyed hash whose per-project secret is sealed with this key.
process.env.ATRIUM_SECRET_KEY ??= "atrium-test-secret-key-not-for-production";
import { setDbHandle } from "@/server/db";
import { recordReceived } from "@/server/intake/receive";
import { deidentifyInstance, markStableStudies } from "@/server/intake/deidentify";

import { SAMPLES_DIR as SAMPLES } from "@/lib/samples";
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-intake-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-intake-${process.pid}-${randomBytes(3).toString("hex")}`;

let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  await db.prisma.project.create({ data: { id: "INTAKE", idLower: "intake", name: "Intake" } });
});
afterAll(async () => {
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Stages a copy of a file as a receiver would, and records it. */
async function stage(source: string | Buffer, batchId = "test") {
  const dir = path.join(dataDir, "staging", "test");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${randomBytes(8).toString("hex")}.dcm`);
  if (typeof source === "string") copyFileSync(source, file);
  else writeFileSync(file, source);
  const bytes = readFileSync(file);
  return recordReceived(
    db.prisma,
    dataDir,
    { path: file, sizeBytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") },
    { channel: "cstore", batchId, callingAe: "TESTSCU", calledAe: "INTAKE" },
    { projectId: "INTAKE" },
  );
}

const ct = path.join(SAMPLES, "dicomParser__ctimage.dcm");

describe("de-identifying received instances", () => {
  it("stores the de-identified instance under de-identified UIDs and records its path through intake", async () => {
    const inst = await stage(ct);
    expect(await deidentifyInstance(db.prisma, dataDir, inst.id)).toBe("deidentified");
    const row = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: inst.id }, include: { events: { orderBy: { id: "asc" } }, study: true } });
    expect(row.status).toBe("deidentified");
    expect(row.events.map((e) => e.step)).toEqual(["received", "routed", "deidentified"]);
    expect(row.outputPath).toMatch(/^projects\/INTAKE\/instances\/[0-9.]+\/[0-9.]+\/[0-9.]+\.dcm$/);
    const out = path.join(dataDir, row.outputPath!);
    expect(existsSync(out)).toBe(true);
    const dump = execFileSync("dcmdump", ["-q", out], { encoding: "utf8" });
    expect(dump).toMatch(/\(0012,0062\) CS \[YES\]/);
    expect(row.study).toMatchObject({ projectId: "INTAKE", instanceCount: 1, status: "receiving" });
    expect(row.study!.subjectLabel).toMatch(/^SUBJ-\d+$/);
    // Running the job again does nothing.
    expect(await deidentifyInstance(db.prisma, dataDir, inst.id)).toBe("not-pending");
  });

  it("records a resend as a duplicate and stores it once, also when both copies are processed at the same moment", async () => {
    const mr = path.join(SAMPLES, "dwv__bbmri-53323131.dcm");
    const [a, b] = [await stage(mr), await stage(mr)];
    const results = await Promise.all([deidentifyInstance(db.prisma, dataDir, a.id), deidentifyInstance(db.prisma, dataDir, b.id)]);
    expect(results.sort()).toEqual(["deidentified", "duplicate"]);
    const again = await stage(mr);
    expect(await deidentifyInstance(db.prisma, dataDir, again.id)).toBe("duplicate");
    const dup = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: again.id } });
    expect(dup.reason).toMatch(/already holds this instance/);
    expect(dup.outputPath).toBeNull();
  });

  it("quarantines what is not DICOM, keeping the staged file, with a reason a data manager can act on", async () => {
    const inst = await stage(Buffer.from("this is a text file, not an image\n".repeat(20)));
    expect(await deidentifyInstance(db.prisma, dataDir, inst.id)).toBe("quarantined");
    const row = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: inst.id } });
    expect(row.reason).toBeTruthy();
    expect(existsSync(path.join(dataDir, row.stagingPath))).toBe(true);
  });

  it("a study becomes stable after its project's quiet period, and receives again when a new instance arrives", async () => {
    const study = await db.prisma.intakeStudy.findFirstOrThrow({ where: { projectId: "INTAKE" }, orderBy: { firstInstanceAt: "asc" } });
    expect(await markStableStudies(db.prisma, new Date(study.lastInstanceAt.getTime() + 30_000))).toBe(0);
    expect(await markStableStudies(db.prisma, new Date(study.lastInstanceAt.getTime() + 61_000))).toBeGreaterThanOrEqual(1);
    expect((await db.prisma.intakeStudy.findUniqueOrThrow({ where: { id: study.id } })).status).toBe("stable");
    await db.prisma.projectIntake.create({ data: { projectId: "INTAKE", stableAfterSeconds: 600 } });
    const other = await stage(path.join(SAMPLES, "dwv__bbmri-53323275.dcm"));
    await deidentifyInstance(db.prisma, dataDir, other.id);
    const s2 = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: other.id }, include: { study: true } });
    expect(await markStableStudies(db.prisma, new Date(s2.study!.lastInstanceAt.getTime() + 61_000))).toBe(0);
  });
});

describe("through the workers", () => {
  it("de-identifies what was recorded even when its job never reached Redis (re-derived at start)", async () => {
    const { startWorkers } = await import("@/workers");
    const { closeQueues, getQueue } = await import("@/server/queues");
    const { closeSharedRedis } = await import("@/server/redis");
    const { queueDeid } = await import("@/server/intake/queue");
    const lost = await stage(path.join(SAMPLES, "dwv__bbmri-53323419.dcm"));
    const workers = await startWorkers();
    try {
      const queued = await stage(path.join(SAMPLES, "dwv__bbmri-53323563.dcm"));
      await queueDeid(queued.id);
      for (let i = 0; i < 100; i++) {
        const pending = await db.prisma.receivedInstance.count({ where: { id: { in: [lost.id, queued.id] }, status: "received" } });
        if (!pending) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const rows = await db.prisma.receivedInstance.findMany({ where: { id: { in: [lost.id, queued.id] } } });
      expect(rows.map((r) => r.status)).toEqual(["deidentified", "deidentified"]);
    } finally {
      await workers.close();
      for (const q of ["deid", "intake-stability", "health"] as const) await getQueue(q).obliterate({ force: true });
      await closeQueues();
      await closeSharedRedis();
    }
  });
});
