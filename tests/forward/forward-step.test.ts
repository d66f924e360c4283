// The forward step on real PostgreSQL and Redis against real peers: de-identified studies handed
// to a destination when archived, sent to DCMTK storescp (C-STORE) and to Orthanc (C-STORE), a
// receiver that is down (failed with a reason and a next attempt, then verified on retry), no
// instance sent twice after a re-forward, a filter that excludes a series, and an image held for a
// pixel review that stays out of its study's forward.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { setDbHandle } from "@/server/db";
import { deidentifyInstance } from "@/server/intake/deidentify";
import { handForwards, requeueForwards, retryForward } from "@/server/forward/queue";
import { runForwardAttempt } from "@/server/forward/run";
import { CT_STUDY, MR_STUDY, SAMPLES, rewriteSamples } from "../xnat/helpers";
import net from "node:net";
import { stageFile } from "../archive/helpers-intake";
import { emptyQueuesAndDisconnect } from "../helpers/queues";
import { freePort } from "../dicom-net/helpers";
import { waitForPort } from "../helpers/wait";
import { startOrthanc, type OrthancProcess } from "../helpers/orthanc";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-forward-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-forward-${process.pid}-${randomBytes(3).toString("hex")}`;
process.env.ATRIUM_SECRET_KEY ??= "atrium-test-secret-key-not-for-production";
process.env.ATRIUM_OUTBOUND_ALLOW = "127.0.0.1";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
const P = "FWD";
const out = mkdtempSync(path.join(os.tmpdir(), "atrium-forward-scp-"));
let scpPort = 0;
let scp: ChildProcess | undefined;
let orthanc: OrthancProcess;

function startStorescp() {
  scp = spawn("storescp", ["-pm", "-od", out, "-aet", "STORESCP", String(scpPort)], { env: { ...process.env, TCP_NODELAY: "1" }, stdio: "ignore" });
  return waitForPort(scpPort, "storescp to listen");
}

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Forward" } });
  scpPort = await freePort();
  // Orthanc answers C-FIND from any AE title (else it aborts the query: "sent, not verified").
  orthanc = await startOrthanc({ dicomweb: true, config: { DicomAlwaysAllowFind: true } });
}, 60_000);
afterAll(async () => {
  scp?.kill("SIGTERM");
  await orthanc?.stop();
  await emptyQueuesAndDisconnect(["forward", "archive", "deid", "intake-stability", "health"]);
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
});

/** Receives the files (each de-identified, or held where `outcomes` says so) into one study, then archived. */
async function receiveArchived(files: string[], outcomes: string[] = files.map(() => "deidentified")) {
  let studyId = "";
  const results: string[] = [];
  for (const f of files) {
    const inst = await stageFile(db.prisma, dataDir, P, path.isAbsolute(f) ? f : path.resolve(SAMPLES, f));
    results.push(await deidentifyInstance(db.prisma, dataDir, inst.id));
    studyId ||= (await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: inst.id } })).studyId ?? "";
  }
  expect(results).toEqual(outcomes);
  // The archive step is tested elsewhere: here the study is archived.
  await db.prisma.intakeStudy.update({ where: { id: studyId }, data: { status: "archived" } });
  return studyId;
}

const fast = { retry: { baseDelayMs: 30_000, maxDelayMs: 600_000, maxAttempts: 3 } };

describe("forwarding to DCMTK storescp", () => {
  it("a receiver that is down: failed with a reason and a next attempt; the retry sends everything once", async () => {
    const dest = await db.prisma.forwardDestination.create({ data: { projectId: P, name: "storescp", kind: "dicom", host: "127.0.0.1", port: scpPort, calledAe: "STORESCP", callingAe: "ATRIUM" } });
    const studyId = await receiveArchived(MR_STUDY);
    expect(await handForwards(db.prisma)).toBe(1);
    expect(await handForwards(db.prisma)).toBe(0); // once
    const fwd = await db.prisma.studyForward.findUniqueOrThrow({ where: { destinationId_studyId: { destinationId: dest.id, studyId } } });
    expect(fwd.state).toBe("queued");

    // storescp not running yet
    expect(await runForwardAttempt(db.prisma, dataDir, fwd.id, 1, fast)).toBe("failed");
    const failed = await db.prisma.studyForward.findUniqueOrThrow({ where: { id: fwd.id } });
    expect(failed.lastError).toMatch(/^6 of 6 instances were not delivered: 6× connection failed: nothing listens at 127\.0\.0\.1:\d+ \(ECONNREFUSED\): check the host and port, and that the receiver is running\.$/);
    expect(failed.nextAttemptAt!.getTime()).toBeGreaterThan(Date.now());
    expect(await runForwardAttempt(db.prisma, dataDir, fwd.id, 1, fast)).toBe("stale");

    await startStorescp();
    const due = () => new Date(failed.nextAttemptAt!.getTime() + 1000);
    // storescp does not answer C-FIND: sent, not verified (and it says so).
    expect(await runForwardAttempt(db.prisma, dataDir, fwd.id, 2, { ...fast, now: due })).toBe("sent");
    const done = await db.prisma.studyForward.findUniqueOrThrow({ where: { id: fwd.id } });
    expect(done).toMatchObject({ state: "sent", sent: 6, failed: 0, lastError: null });
    expect(done.verification).toMatch(/^sent, not verified: STORESCP at 127\.0\.0\.1:\d+ does not answer C-FIND queries \(Study Root\)$/);
    expect(readdirSync(out)).toHaveLength(6);
    expect(await db.prisma.forwardDelivery.count({ where: { destinationId: dest.id, outcome: "success" } })).toBe(6);

    // Nothing new: not handed again. A re-forward (new instances) sends only the new ones.
    expect(await handForwards(db.prisma)).toBe(0);
    const extra = await stageFile(db.prisma, dataDir, P, path.resolve(SAMPLES, "dwv__bbmri-53323851.dcm"));
    await deidentifyInstance(db.prisma, dataDir, extra.id);
    await db.prisma.intakeStudy.update({ where: { id: studyId }, data: { status: "archived", instanceCount: { increment: 1 } } });
    const attempts = await db.prisma.forwardDelivery.aggregate({ where: { destinationId: dest.id }, _sum: { attempts: true } });
    expect(await handForwards(db.prisma)).toBe(1);
    expect(await runForwardAttempt(db.prisma, dataDir, fwd.id, 1)).toBe("sent");
    const after = await db.prisma.forwardDelivery.aggregate({ where: { destinationId: dest.id }, _sum: { attempts: true } });
    // The six delivered instances were not sent again (their records untouched).
    expect(after._sum.attempts).toBe(attempts._sum.attempts! + (await db.prisma.forwardDelivery.count({ where: { destinationId: dest.id } })) - 6);
    await db.prisma.forwardDestination.update({ where: { id: dest.id }, data: { enabled: false } });
  });
});

describe("forwarding to Orthanc by C-STORE", () => {
  it("respects the filter: only the MR study arrives; the CT instances are recorded as filtered", async () => {
    const dest = await db.prisma.forwardDestination.create({
      data: { projectId: P, name: "orthanc", kind: "dicom", host: "127.0.0.1", port: orthanc.dicomPort, calledAe: orthanc.aet, callingAe: "ATRIUM", associations: 2, filter: 'Modality == "MR"' },
    });
    const ct = await receiveArchived(CT_STUDY);
    const handed = await handForwards(db.prisma, new Date(), dest.id);
    expect(handed).toBeGreaterThanOrEqual(2); // the MR study of the first test and the CT study
    expect(await requeueForwards(db.prisma)).toBeGreaterThanOrEqual(2);
    const rows = await db.prisma.studyForward.findMany({ where: { destinationId: dest.id } });
    for (const r of rows) expect(await runForwardAttempt(db.prisma, dataDir, r.id, 1)).toBe("verified");
    const mr = await db.prisma.studyForward.findFirstOrThrow({ where: { destinationId: dest.id, studyId: { not: ct } } });
    expect(mr.verification).toMatch(/^the receiver holds \d+ instances of the study, as delivered$/);
    expect((await db.prisma.studyForward.findUniqueOrThrow({ where: { id: rows.find((r) => r.studyId === ct)!.id } })).verification).toBe("nothing to send: the filter excluded every instance");
    const ctRow = rows.find((r) => r.studyId === ct)!;
    expect(await db.prisma.studyForward.findUniqueOrThrow({ where: { id: ctRow.id } })).toMatchObject({ sent: 0, filtered: CT_STUDY.length });
    const stored = (await (await orthanc.rest("/instances?expand")).json()) as { MainDicomTags: { SOPInstanceUID: string } }[];
    const delivered = await db.prisma.forwardDelivery.findMany({ where: { destinationId: dest.id, outcome: "success" } });
    expect(delivered.length).toBeGreaterThan(0);
    expect(new Set(stored.map((s) => s.MainDicomTags.SOPInstanceUID))).toEqual(new Set(delivered.map((d) => d.sopInstanceUid)));
    const series = (await (await orthanc.rest("/series?expand")).json()) as { MainDicomTags: { Modality: string } }[];
    expect(new Set(series.map((s) => s.MainDicomTags.Modality))).toEqual(new Set(["MR"]));
  });

  it("verification: an instance missing at the receiver fails the forward with the numbers (and sends nothing again)", async () => {
    const dest = await db.prisma.forwardDestination.findFirstOrThrow({ where: { name: "orthanc" } });
    const f = await db.prisma.studyForward.findFirstOrThrow({ where: { destinationId: dest.id, sent: { gt: 0 } } });
    const delivered = await db.prisma.forwardDelivery.findMany({ where: { destinationId: dest.id, studyId: f.studyId, outcome: "success" } });
    const found = (await (await orthanc.rest("/tools/find", { method: "POST", body: JSON.stringify({ Level: "Instance", Query: { SOPInstanceUID: delivered[0]!.sopInstanceUid } }) })).json()) as string[];
    expect(found).toHaveLength(1);
    expect((await orthanc.rest(`/instances/${found[0]}`, { method: "DELETE" })).ok).toBe(true);
    await db.prisma.studyForward.update({ where: { id: f.id }, data: { state: "failed", lastError: "test" } });
    await retryForward(db.prisma, P, f.id);
    const before = await db.prisma.forwardDelivery.aggregate({ where: { destinationId: dest.id }, _sum: { attempts: true } });
    expect(await runForwardAttempt(db.prisma, dataDir, f.id, 1, fast)).toBe("failed");
    const row = await db.prisma.studyForward.findUniqueOrThrow({ where: { id: f.id } });
    expect(row.lastError).toBe(
      `Verification failed: the receiver holds ${delivered.length - 1} instances of the study, ${delivered.length} were delivered. Check the receiver's storage and logs (it may have dropped or merged instances); the retry asks again.`,
    );
    expect((await db.prisma.forwardDelivery.aggregate({ where: { destinationId: dest.id }, _sum: { attempts: true } }))._sum.attempts).toBe(before._sum.attempts);
  });

  it("an owner's retry queues a failed forward again", async () => {
    const f = await db.prisma.studyForward.findFirstOrThrow({ where: { destination: { name: "orthanc" } } });
    await db.prisma.studyForward.update({ where: { id: f.id }, data: { state: "failed", lastError: "test" } });
    const r = await retryForward(db.prisma, P, f.id);
    expect(r).toMatchObject({ state: "queued", attempts: 0 });
    expect(await retryForward(db.prisma, P, f.id)).toBeNull();
  });
});

/** Orthanc's instances of one de-identified study (by its Study Instance UID). */
async function orthancCount(studyUid: string): Promise<number> {
  const ids = (await (await orthanc.rest("/tools/find", { method: "POST", body: JSON.stringify({ Level: "Instance", Query: { StudyInstanceUID: studyUid } }) })).json()) as string[];
  return ids.length;
}

/** Orthanc's series of the study received as `studyId`. */
async function orthancSeries(studyId: string) {
  const study = await db.prisma.intakeStudy.findUniqueOrThrow({ where: { id: studyId } });
  const query = { Level: "Series", Query: { StudyInstanceUID: study.studyInstanceUid }, Expand: true };
  return (await (await orthanc.rest("/tools/find", { method: "POST", body: JSON.stringify(query) })).json()) as { MainDicomTags: { Modality: string; SeriesNumber: string }; Instances: string[] }[];
}

describe("forwarding to Orthanc by STOW-RS", () => {
  it("sends the study in batches and verifies it by a QIDO-RS count", async () => {
    const dest = await db.prisma.forwardDestination.create({ data: { projectId: P, name: "orthanc-web", kind: "stow", stowUrl: `${orthanc.url}/dicom-web`, filter: 'Modality == "CT"' } });
    const ct = await db.prisma.intakeStudy.findFirstOrThrow({ where: { projectId: P, instanceCount: CT_STUDY.length } });
    expect(await orthancCount(ct.studyInstanceUid)).toBe(0);
    const f = await db.prisma.studyForward.create({ data: { destinationId: dest.id, studyId: ct.id, projectId: P } });
    expect(await runForwardAttempt(db.prisma, dataDir, f.id, 1)).toBe("verified");
    expect(await db.prisma.studyForward.findUniqueOrThrow({ where: { id: f.id } })).toMatchObject({
      sent: CT_STUDY.length,
      verification: `the receiver holds ${CT_STUDY.length} instances of the study, as delivered`,
    });
    expect(await orthancCount(ct.studyInstanceUid)).toBe(CT_STUDY.length);
  });
});

describe("a filter that excludes a series", () => {
  it("sends the other series of the study; the excluded one is recorded as filtered, and verification counts what was sent", async () => {
    // One study, two series (3 + 3 MR instances): series 2 is excluded.
    const files = await rewriteSamples(MR_STUDY, (ds, i) => {
      ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.778.1";
      ds.SeriesInstanceUID = `1.2.826.0.1.3680043.10.778.1.${i < 3 ? 1 : 2}`;
      ds.SeriesNumber = i < 3 ? "1" : "2";
      ds.SOPInstanceUID = `1.2.826.0.1.3680043.10.778.1.${i < 3 ? 1 : 2}.${i + 1}`;
      ds.PatientID = "SERIESFILTER";
    });
    const studyId = await receiveArchived(files.map((f) => f.path));
    const dest = await db.prisma.forwardDestination.create({
      data: { projectId: P, name: "series-filter", kind: "dicom", host: "127.0.0.1", port: orthanc.dicomPort, calledAe: orthanc.aet, callingAe: "ATRIUM", filter: "SeriesNumber != 2" },
    });
    const f = await db.prisma.studyForward.create({ data: { destinationId: dest.id, studyId, projectId: P } });
    expect(await runForwardAttempt(db.prisma, dataDir, f.id, 1)).toBe("verified");
    expect(await db.prisma.studyForward.findUniqueOrThrow({ where: { id: f.id } })).toMatchObject({ sent: 3, filtered: 3, failed: 0 });
    const series = await orthancSeries(studyId);
    expect(series.map((x) => [x.MainDicomTags.SeriesNumber, x.Instances.length])).toEqual([["1", 3]]);
  });
});

describe("an image held for a pixel review", () => {
  it("is not forwarded with its study: the receiver gets only the instances filed in it", async () => {
    // One study: two MR instances and an ultrasound image (burned-in candidate, held for review).
    const files = await rewriteSamples([MR_STUDY[0]!, MR_STUDY[1]!, "pydicom-data__US1_UNCR.dcm"], (ds, i) => {
      ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.778.2";
      ds.SeriesInstanceUID = `1.2.826.0.1.3680043.10.778.2.${i < 2 ? 1 : 2}`;
      ds.SOPInstanceUID = `1.2.826.0.1.3680043.10.778.2.${i < 2 ? 1 : 2}.${i + 1}`;
      ds.PatientID = "HELDFORREVIEW";
    });
    const studyId = await receiveArchived(files.map((f) => f.path), ["deidentified", "deidentified", "held"]);
    const dest = await db.prisma.forwardDestination.create({
      data: { projectId: P, name: "held-check", kind: "dicom", host: "127.0.0.1", port: orthanc.dicomPort, calledAe: orthanc.aet, callingAe: "ATRIUM" },
    });
    const f = await db.prisma.studyForward.create({ data: { destinationId: dest.id, studyId, projectId: P } });
    expect(await runForwardAttempt(db.prisma, dataDir, f.id, 1)).toBe("verified");
    expect(await db.prisma.studyForward.findUniqueOrThrow({ where: { id: f.id } })).toMatchObject({ sent: 2, failed: 0, filtered: 0 });
    const series = await orthancSeries(studyId);
    expect(series.map((x) => [x.MainDicomTags.Modality, x.Instances.length])).toEqual([["MR", 2]]);
  });
});

describe("a peer that drops the association mid-study", () => {
  it("fails the attempt with the reason; the retry sends only what was not acknowledged, and verification passes", async () => {
    // A TCP relay to Orthanc that cuts its first connection after ~2.5 instances (350 kB from Atrium).
    let connections = 0;
    const relay = net.createServer((client) => {
      const n = ++connections;
      const upstream = net.connect({ host: "127.0.0.1", port: orthanc.dicomPort });
      let bytes = 0;
      client.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (n === 1 && bytes > 350_000) {
          client.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(chunk);
      });
      upstream.on("data", (chunk) => client.write(chunk));
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
    const relayPort = (relay.address() as net.AddressInfo).port;
    try {
      const files = await rewriteSamples(MR_STUDY, (ds, i) => {
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.779.1";
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.779.1.1";
        ds.SOPInstanceUID = `1.2.826.0.1.3680043.10.779.1.1.${i + 1}`;
        ds.PatientID = "DROPPED";
      });
      const studyId = await receiveArchived(files.map((f) => f.path));
      const dest = await db.prisma.forwardDestination.create({ data: { projectId: P, name: "dropping", kind: "dicom", host: "127.0.0.1", port: relayPort, calledAe: orthanc.aet, callingAe: "ATRIUM" } });
      const f = await db.prisma.studyForward.create({ data: { destinationId: dest.id, studyId, projectId: P } });

      expect(await runForwardAttempt(db.prisma, dataDir, f.id, 1, fast)).toBe("failed");
      const failed = await db.prisma.studyForward.findUniqueOrThrow({ where: { id: f.id } });
      expect(failed.lastError).toMatch(/^\d of 6 instances were not delivered: \d× connection (failed|closed)/);
      const first = await db.prisma.forwardDelivery.findMany({ where: { destinationId: dest.id } });
      const acked = first.filter((d) => d.outcome === "success").map((d) => d.sopInstanceUid);
      expect(acked.length).toBeGreaterThanOrEqual(1);
      expect(acked.length).toBeLessThan(6);

      const due = () => new Date(failed.nextAttemptAt!.getTime() + 1000);
      expect(await runForwardAttempt(db.prisma, dataDir, f.id, 2, { ...fast, now: due })).toBe("verified");
      const after = await db.prisma.forwardDelivery.findMany({ where: { destinationId: dest.id } });
      expect(after.every((d) => d.outcome === "success")).toBe(true);
      // Acknowledged instances were not sent again: one attempt each; the others two.
      for (const d of after) expect(d.attempts).toBe(acked.includes(d.sopInstanceUid) ? 1 : 2);
      expect(connections).toBe(2 + 1); // two C-STORE associations, one C-FIND
      const study = await db.prisma.intakeStudy.findUniqueOrThrow({ where: { id: studyId } });
      expect(await orthancCount(study.studyInstanceUid)).toBe(6);
      expect((await db.prisma.studyForward.findUniqueOrThrow({ where: { id: f.id } })).verification).toBe("the receiver holds 6 instances of the study, as delivered");
    } finally {
      relay.close();
    }
  });
});
