// Intake end to end, the way a scanner uses it: DCMTK's storescu sends every sample to Atrium as
// `npm start` runs it; each instance is recorded before its success status, then de-identified
// once, recorded as a duplicate, skipped or quarantined with a reason; none is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rm } from "node:fs/promises";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { freePort, startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { run, sampleFiles, storescuConfig, storescuSuccesses, tempDir } from "../dicom-net/helpers";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let dicomPort: number;
let cfgDir: string;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-cstore-"));

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: "DEMO", idLower: "demo", name: "Demo" } });
  await db.prisma.aeRoute.create({ data: { aeTitle: "DEMO", projectId: "DEMO", allowedCallingAes: [], allowedAddresses: [] } });
  await db.prisma.project.create({ data: { id: "STRICT", idLower: "strict", name: "Strict" } });
  await db.prisma.aeRoute.create({ data: { aeTitle: "STRICT", projectId: "STRICT", allowedCallingAes: ["CT01"], allowedAddresses: [] } });
  dicomPort = await freePort();
  app = await startAtrium({
    DATABASE_URL: db.url,
    ATRIUM_DATA_DIR: dataDir,
    ATRIUM_DICOM_PORT: String(dicomPort),
    ATRIUM_QUEUE_PREFIX: `atrium-cstore-${process.pid}`,
    ATRIUM_METRICS_TOKEN: "cstore-metrics-token",
  });
  cfgDir = await tempDir("cstore-cfg");
}, 180_000);

afterAll(async () => {
  await app?.stop();
  await db?.drop();
  await rm(cfgDir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

describe("C-STORE intake", () => {
  it("answers C-ECHO and refuses unknown or unlisted callers at association", async () => {
    const echo = await run("echoscu", ["-aec", "DEMO", "-aet", "SCANNER", "127.0.0.1", String(dicomPort)]);
    expect(echo.code, echo.stderr).toBe(0);
    const unknown = await run("echoscu", ["-aec", "NOBODY", "127.0.0.1", String(dicomPort)]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr + unknown.stdout).toMatch(/Called AE Title Not Recognized/i);
    const unlisted = await run("echoscu", ["-aec", "STRICT", "-aet", "MR02", "127.0.0.1", String(dicomPort)]);
    expect(unlisted.stderr + unlisted.stdout).toMatch(/Calling AE Title Not Recognized/i);
  });

  it("stores every instance storescu sends exactly once, and gives each an outcome", async () => {
    const files = await sampleFiles();
    const cfg = await storescuConfig(files, cfgDir);
    const r = await run("storescu", ["-nh", "-v", "-xf", cfg, "Default", "-aec", "DEMO", "-aet", "SCANNER", "127.0.0.1", String(dicomPort), ...files], {
      timeoutMs: 120_000,
    });
    const sent = storescuSuccesses(r.stdout + r.stderr);
    expect(sent.length).toBeGreaterThan(60);

    // Acknowledged means recorded: the rows exist the moment storescu has its answers.
    expect(await db.prisma.receivedInstance.count({ where: { projectId: "DEMO", channel: "cstore" } })).toBe(sent.length);

    let pending = -1;
    for (let i = 0; i < 600 && pending !== 0; i++) {
      pending = await db.prisma.receivedInstance.count({ where: { projectId: "DEMO", status: "received" } });
      if (pending) await new Promise((res) => setTimeout(res, 200));
    }
    expect(pending).toBe(0);
    const byStatus = Object.fromEntries(
      (await db.prisma.receivedInstance.groupBy({ by: ["status"], where: { projectId: "DEMO" }, _count: { _all: true } })).map((g) => [g.status, g._count._all]),
    );
    // Ultrasound and secondary-capture samples are held for a pixel review, the rest filed.
    expect(byStatus.deidentified).toBeGreaterThan(40);
    expect(byStatus.review).toBeGreaterThan(15);
    // Several samples share a SOP Instance UID: those are recorded as duplicates, stored once.
    const deidentified = await db.prisma.receivedInstance.findMany({ where: { projectId: "DEMO", status: "deidentified" }, select: { outputPath: true } });
    expect(new Set(deidentified.map((d) => d.outputPath)).size).toBe(deidentified.length);
    const quarantined = await db.prisma.receivedInstance.findMany({ where: { projectId: "DEMO", status: "quarantined" }, select: { reason: true } });
    for (const q of quarantined) expect(q.reason).toMatch(/^[A-Z].{20,}/);

    const studies = await db.prisma.intakeStudy.findMany({ where: { projectId: "DEMO" } });
    expect(studies.length).toBeGreaterThan(10);
    expect(studies.reduce((n, s) => n + s.instanceCount, 0)).toBe(byStatus.deidentified);
  }, 240_000);

  it("counts the traffic in the metrics, with no identifying labels", async () => {
    const text = await (await fetch(`${app.url}/metrics`, { headers: { authorization: "Bearer cstore-metrics-token" } })).text();
    expect(text).toMatch(/^atrium_dicom_instances_total\{.*outcome="stored".*\} [1-9]\d*$/m);
    expect(text).toMatch(/^atrium_dicom_associations_total\{.*outcome="rejected".*\} [1-9]\d*$/m);
  });
});
