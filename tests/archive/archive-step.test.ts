// The archive step's state machine on the real PostgreSQL, Redis and the XNAT test server over
// HTTP: stable studies are handed on once, attempts go queued → sending → verifying → archived,
// failures record a reason and the next attempt, stale and repeated jobs do nothing, retries
// archive, new instances re-archive into the same experiment, and lost Redis jobs are re-derived.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { setDbHandle } from "@/server/db";
import { sealSecret } from "@/server/secrets";
import { deidentifyInstance, markStableStudies } from "@/server/intake/deidentify";
import { handStableStudies, requeueArchives } from "@/server/archive/queue";
import { retryArchive, runArchiveAttempt } from "@/server/archive/run";
import { experimentLabel } from "@/lib/archive/driver";
import type { XnatTestServer } from "../xnat/server";
import { ALICE, CT_STUDY, MR_STUDY, SAMPLES, rewriteSamples, startServer } from "../xnat/helpers";
import { stageFile } from "./helpers-intake";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-archive-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-archive-${process.pid}-${randomBytes(3).toString("hex")}`;
process.env.ATRIUM_SECRET_KEY ??= "atrium-test-secret-key-not-for-production";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let server: XnatTestServer;
const P = "ARCH";

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  server = await startServer();
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Archive" } });
  await db.prisma.projectArchiveTarget.create({
    data: { projectId: P, kind: "xnat", xnatUrl: server.url, xnatProject: "P1", xnatUser: ALICE.login, xnatSecretSealed: sealSecret(ALICE.password, { table: "ProjectArchiveTarget", id: P, field: "xnatSecretSealed" }) },
  });
});
afterAll(async () => {
  await emptyQueuesAndDisconnect(["archive", "deid", "intake-stability", "health"]);
  setDbHandle(undefined);
  await db?.drop();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Receives and de-identifies sample files; returns their study. */
async function receive(files: string[]) {
  let studyId = "";
  for (const f of files) {
    const inst = await stageFile(db.prisma, dataDir, P, path.resolve(SAMPLES, f));
    expect(await deidentifyInstance(db.prisma, dataDir, inst.id)).toBe("deidentified");
    studyId = (await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: inst.id } })).studyId!;
  }
  return db.prisma.intakeStudy.findUniqueOrThrow({ where: { id: studyId } });
}

async function makeStable() {
  const last = await db.prisma.intakeStudy.aggregate({ _max: { lastInstanceAt: true } });
  return markStableStudies(db.prisma, new Date(last._max.lastInstanceAt!.getTime() + 120_000));
}

const archiveOf = (studyId: string) => db.prisma.studyArchive.findUniqueOrThrow({ where: { studyId } });
const fast = { retry: { baseDelayMs: 30_000, maxDelayMs: 600_000, maxAttempts: 3 } };

describe("the archive state machine", () => {
  it("hands a stable study on once, sends it, verifies it and marks it archived", async () => {
    const study = await receive(MR_STUDY);
    expect(await handStableStudies(db.prisma)).toBe(0); // still receiving
    await makeStable();
    expect(await handStableStudies(db.prisma)).toBe(1);
    expect(await handStableStudies(db.prisma)).toBe(0); // once
    expect(await archiveOf(study.id)).toMatchObject({ state: "queued", attempts: 0, projectId: P, targetKind: "xnat" });
    expect((await db.prisma.intakeStudy.findUniqueOrThrow({ where: { id: study.id } })).status).toBe("archiving");

    const sessions = { ...server.stats };
    expect(await runArchiveAttempt(db.prisma, dataDir, study.id, 1)).toBe("archived");
    // One XNAT session for sending and verifying, logged out afterwards.
    expect(server.stats.sessionsCreated - sessions.sessionsCreated).toBe(1);
    expect(server.stats.sessionsDeleted - sessions.sessionsDeleted).toBe(1);
    const a = await archiveOf(study.id);
    const label = experimentLabel(study.subjectLabel, study.studyInstanceUid);
    const [exp, ...more] = server.experimentsByLabel("P1", label);
    expect(more).toHaveLength(0);
    expect(label).toMatch(/^SUBJ-\d+_[0-9A-F]{8}$/);
    expect(exp!.subjectId).toBeTruthy();
    expect(server.subjects.get(exp!.subjectId)?.label).toBe(study.subjectLabel);
    expect(a).toMatchObject({ state: "archived", attempts: 1, archivedInstances: 6, lastError: null, nextAttemptAt: null, location: `${server.url}/data/experiments/${exp!.id}` });
    expect(a.doneBytes).toBe(a.totalBytes);
    expect(a.totalBytes).toBeGreaterThan(0n);
    expect((await db.prisma.intakeStudy.findUniqueOrThrow({ where: { id: study.id } })).status).toBe("archived");
    // The same job again, and an old one, do nothing.
    expect(await runArchiveAttempt(db.prisma, dataDir, study.id, 1)).toBe("stale");
    expect(server.filesOf(exp!)).toHaveLength(6);
  });

  it("a failed attempt records why and when the next one is; the retry archives without duplicates", async () => {
    const study = await receive(CT_STUDY);
    await makeStable();
    await handStableStudies(db.prisma);
    // XNAT stores the upload, then answers 500 to it and to every retry of the client.
    server.inject({ method: "POST", path: "/data/services/import", kind: "status", status: 500, phase: "after", times: 20 });
    const t0 = new Date();
    expect(await runArchiveAttempt(db.prisma, dataDir, study.id, 1, { ...fast, now: () => t0 })).toBe("failed");
    server.faults.length = 0;
    const failed = await archiveOf(study.id);
    expect(failed).toMatchObject({ state: "failed", attempts: 1 });
    expect(failed.lastError).toMatch(/XNAT POST \/data\/services\/import failed \(500\)/);
    expect(failed.lastError).not.toMatch(new RegExp(ALICE.password));
    expect(failed.nextAttemptAt!.getTime()).toBe(t0.getTime() + 30_000);
    expect((await db.prisma.intakeStudy.findUniqueOrThrow({ where: { id: study.id } })).status).toBe("failed");

    // Not due yet: the sweep does not queue it and a job does nothing.
    expect(await runArchiveAttempt(db.prisma, dataDir, study.id, 2, { ...fast, now: () => t0 })).toBe("stale");
    // Due: attempt 2 archives, merging with what the failed attempt left.
    const later = new Date(t0.getTime() + 31_000);
    expect(await runArchiveAttempt(db.prisma, dataDir, study.id, 2, { ...fast, now: () => later })).toBe("archived");
    const exps = server.experimentsByLabel("P1", experimentLabel(study.subjectLabel, study.studyInstanceUid));
    expect(exps).toHaveLength(1);
    expect(server.filesOf(exps[0]!)).toHaveLength(2);
    expect(await archiveOf(study.id)).toMatchObject({ state: "archived", attempts: 2 });
  });

  it("backs off exponentially and stops retrying after the last attempt; an owner's retry starts again", async () => {
    const study = await receive(["highdicom__ct_image.dcm"]);
    await makeStable();
    await handStableStudies(db.prisma);
    await db.prisma.projectArchiveTarget.update({ where: { projectId: P }, data: { xnatSecretSealed: sealSecret("wrong-password", { table: "ProjectArchiveTarget", id: P, field: "xnatSecretSealed" }) } });
    try {
      let now = new Date();
      const gaps: Array<number | null> = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        expect(await runArchiveAttempt(db.prisma, dataDir, study.id, attempt, { ...fast, now: () => now })).toBe("failed");
        const a = await archiveOf(study.id);
        expect(a.lastError).toMatch(/refused the login of user alice.*Archive settings/);
        gaps.push(a.nextAttemptAt ? a.nextAttemptAt.getTime() - now.getTime() : null);
        if (a.nextAttemptAt) now = a.nextAttemptAt;
      }
      expect(gaps).toEqual([30_000, 60_000, null]);
    } finally {
      await db.prisma.projectArchiveTarget.update({ where: { projectId: P }, data: { xnatSecretSealed: sealSecret(ALICE.password, { table: "ProjectArchiveTarget", id: P, field: "xnatSecretSealed" }) } });
    }
    expect(await retryArchive(db.prisma, "OTHER", study.id)).toBeNull();
    const row = await retryArchive(db.prisma, P, study.id);
    expect(row).toMatchObject({ state: "queued", attempts: 0 });
    expect((await db.prisma.intakeStudy.findUniqueOrThrow({ where: { id: study.id } })).status).toBe("archiving");
    expect(await runArchiveAttempt(db.prisma, dataDir, study.id, 1)).toBe("archived");
  });

  it("says so when the de-identified files are gone, without sending anything", async () => {
    const study = await receive(["dicomParser__ctimage.dcm"]);
    await makeStable();
    await handStableStudies(db.prisma);
    const inst = await db.prisma.receivedInstance.findFirstOrThrow({ where: { studyId: study.id } });
    rmSync(path.join(dataDir, inst.outputPath!));
    const imports = server.stats.imports;
    expect(await runArchiveAttempt(db.prisma, dataDir, study.id, 1, fast)).toBe("failed");
    expect((await archiveOf(study.id)).lastError).toMatch(/de-identified file of instance .* is missing/);
    expect(server.stats.imports).toBe(imports);
  });
});

describe("a site XNAT that decompresses on import", () => {
  it("the study is archived, verified by SOP Instance UID, and its archive record says XNAT decompressed it; a new attempt starts without the old note", async () => {
    const dec = await startServer({ decompress: true });
    try {
      await db.prisma.project.create({ data: { id: "DECOMP", idLower: "decomp", name: "Decompressing XNAT" } });
      await db.prisma.projectArchiveTarget.create({
        data: { projectId: "DECOMP", kind: "xnat", xnatUrl: dec.url, xnatProject: "P1", xnatUser: ALICE.login, xnatSecretSealed: sealSecret(ALICE.password, { table: "ProjectArchiveTarget", id: "DECOMP", field: "xnatSecretSealed" }) },
      });
      const inst = await stageFile(db.prisma, dataDir, "DECOMP", path.join(SAMPLES, "dicomParser__CT0012.not_fragmented_bot_rle.dcm"));
      expect(await deidentifyInstance(db.prisma, dataDir, inst.id)).toBe("deidentified");
      const studyId = (await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: inst.id } })).studyId!;
      await makeStable();
      await handStableStudies(db.prisma);
      expect(await runArchiveAttempt(db.prisma, dataDir, studyId, 1)).toBe("archived");
      const a = await archiveOf(studyId);
      expect(a).toMatchObject({ state: "archived", lastError: null, archivedInstances: 1 });
      expect(a.verificationNote).toMatch(/^Verified by SOP Instance UID: the 1 instance \(1 series\) is on XNAT; this XNAT decompresses images on import: 1 of 1 series sent compressed is stored decompressed/);
      // An owner's re-queue (or new instances) starts a new attempt: the old note goes with the old verification.
      await db.prisma.studyArchive.update({ where: { studyId }, data: { state: "failed", lastError: "x" } });
      await retryArchive(db.prisma, "DECOMP", studyId);
      dec.inject({ method: "POST", path: "/data/services/import", kind: "status", status: 500, times: 10 });
      expect(await runArchiveAttempt(db.prisma, dataDir, studyId, 1, fast)).toBe("failed");
      expect((await archiveOf(studyId)).verificationNote).toBeNull();
    } finally {
      await dec.close();
    }
  });
});

describe("the default target", () => {
  it("a project without an archive target archives into the built-in local archive", async () => {
    await db.prisma.project.create({ data: { id: "LOCAL", idLower: "local", name: "Local" } });
    const inst = await stageFile(db.prisma, dataDir, "LOCAL", path.join(SAMPLES, "pydicom__CT_small.dcm"));
    expect(await deidentifyInstance(db.prisma, dataDir, inst.id)).toBe("deidentified");
    const studyId = (await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: inst.id } })).studyId!;
    await makeStable();
    await handStableStudies(db.prisma);
    expect(await archiveOf(studyId)).toMatchObject({ state: "queued", targetKind: "local" });
    expect(await runArchiveAttempt(db.prisma, dataDir, studyId, 1)).toBe("archived");
    expect(await archiveOf(studyId)).toMatchObject({ state: "archived", location: "local", archivedInstances: 1 });
    const exp = await db.prisma.archiveExperiment.findFirstOrThrow({ where: { projectId: "LOCAL" }, include: { subject: true } });
    expect(exp.instanceCount).toBe(1);
    expect(exp.label).toMatch(/^SUBJ-\d+_[0-9A-F]{8}$/);
  });
});

describe("through the workers", () => {
  it("new instances after the archive make the study stable again; it is re-archived into the same experiment, also when its job was lost with Redis", async () => {
    const { startWorkers } = await import("@/workers");
    const { getQueue } = await import("@/server/queues");
    // Another study (new UIDs) of six instances, arriving in two parts.
    const copies = (
      await rewriteSamples(MR_STUDY, (ds, i) => {
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.1234.1";
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.1234.1.1";
        ds.SOPInstanceUID = `1.2.826.0.1.3680043.10.1234.1.1.${i + 1}`;
      })
    ).map((e) => e.path);
    const first = await receive(copies.slice(0, 3));
    await makeStable();
    expect(await handStableStudies(db.prisma)).toBeGreaterThanOrEqual(1);
    // Redis loses the queued jobs: the database still says queued, and the workers re-derive them.
    await getQueue("archive").obliterate({ force: true });
    const workers = await startWorkers();
    try {
      const waitArchived = async (studyId: string, instances: number) => {
        for (let i = 0; i < 300; i++) {
          const a = await db.prisma.studyArchive.findUnique({ where: { studyId } });
          if (a?.state === "archived" && a.archivedInstances === instances) return a;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`study not archived: ${JSON.stringify(await db.prisma.studyArchive.findUnique({ where: { studyId } }), (_k, v) => (typeof v === "bigint" ? Number(v) : v))}`);
      };
      await waitArchived(first.id, 3);
      // The remaining instances of the same study arrive.
      const again = await receive(copies.slice(3));
      expect(again.id).toBe(first.id);
      expect(again.status).toBe("receiving");
      await makeStable();
      await requeueArchives(db.prisma);
      await handStableStudies(db.prisma); // (the workers' own sweep may have done it already)
      const a = await waitArchived(first.id, 6);
      expect(a.attempts).toBe(1);
      const exps = server.experimentsByLabel("P1", experimentLabel(first.subjectLabel, first.studyInstanceUid));
      expect(exps).toHaveLength(1);
      expect(server.filesOf(exps[0]!)).toHaveLength(6);
      expect((await db.prisma.intakeStudy.findUniqueOrThrow({ where: { id: first.id } })).status).toBe("archived");
    } finally {
      await workers.close();
    }
  });
});
