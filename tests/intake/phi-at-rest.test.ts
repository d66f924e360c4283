// PHI at rest (issue 17 §5): after an intake through the real path (DCMTK storescu → the C-STORE
// listener → the workers: de-identification, duplicates, stable studies, the local archive), no
// file anywhere in the data directory holds an identifying value of what was sent — except the
// originals of quarantined instances, which stay until a person resolves them.
import { afterAll, beforeAll, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { createPeople } from "../helpers/fixtures";
import { setDbHandle } from "@/server/db";
import { SAMPLES_DIR } from "@/lib/samples";
import { parseDicom, stringValue } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { freePort, run, storescuConfig, storescuSuccesses } from "../dicom-net/helpers";
import type { ScpHandle } from "@/lib/dicom-net/scp";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-phi-at-rest-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-phi-${process.pid}-${randomBytes(3).toString("hex")}`;
delete process.env.ATRIUM_STAGING_RETENTION_HOURS;

const P = "PHIREST";
const SAMPLES = [
  "dicomParser__ctimage.dcm",
  "pydicom__CT_small.dcm",
  "dwv__bbmri-53323131.dcm",
  "dwv__bbmri-53323275.dcm",
  "pydicom-data__emri_small.dcm",
  "highdicom__ct_image.dcm",
  "dicomParser__CT1_UNC.explicit_big_endian.dcm",
].map((f) => path.join(SAMPLES_DIR, f));

/** Identifying elements whose values are searched for (values of at least 6 characters). */
const IDENTIFYING: Record<string, number> = {
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  OtherPatientIDs: 0x00101000,
  InstitutionName: 0x00080080,
  InstitutionAddress: 0x00080081,
  ReferringPhysicianName: 0x00080090,
  StationName: 0x00081010,
  OperatorsName: 0x00081070,
  AccessionNumber: 0x00080050,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  SOPInstanceUID: 0x00080018,
};

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let scp: ScpHandle;
let port: number;
let workers: { close(graceMs?: number): Promise<void> };

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  const people = await createPeople(db.prisma);
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: P, members: { create: { userId: people.users.owner.id, role: "owner" } } } });
  await db.prisma.projectIntake.create({ data: { projectId: P, stableAfterSeconds: 1 } });
  await db.prisma.aeRoute.create({ data: { aeTitle: "PHI_AE", projectId: P, allowedCallingAes: [], allowedAddresses: [] } });
  port = await freePort();
  const { startDicomListener } = await import("@/server/intake/dicom-listener");
  scp = await startDicomListener({ prisma: db.prisma, dataDir, port, host: "127.0.0.1" });
  workers = await (await import("@/workers")).startWorkers();
}, 60_000);

afterAll(async () => {
  await scp?.close({ timeoutMs: 2000 });
  await workers?.close(5_000);
  await emptyQueuesAndDisconnect(["deid", "archive", "intake-stability", "health", "webhook-pull"]);
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

it("no identifying value of the sent instances is left anywhere in the data directory, except in quarantine", { timeout: 180_000 }, async () => {
  const cfg = await storescuConfig(SAMPLES, dataDir);
  // Everything once, and one file again (a duplicate).
  const r = await run("storescu", ["-nh", "-v", "-xf", cfg, "Default", "-aec", "PHI_AE", "-aet", "SCANNER", "127.0.0.1", String(port), ...SAMPLES, SAMPLES[1]!], { timeoutMs: 60_000 });
  expect(storescuSuccesses(r.stdout + r.stderr), r.stderr).toHaveLength(SAMPLES.length + 1);
  rmSync(cfg);

  const t0 = Date.now();
  for (;;) {
    const [pending, open] = await Promise.all([
      db.prisma.receivedInstance.count({ where: { projectId: P, status: "received" } }),
      db.prisma.intakeStudy.count({ where: { projectId: P, status: { not: "archived" } } }),
    ]);
    if (!pending && !open) break;
    if (Date.now() - t0 > 150_000) throw new Error(`timed out: ${pending} instances pending, ${open} studies not archived`);
    await new Promise((res) => setTimeout(res, 250));
  }
  const rows = await db.prisma.receivedInstance.findMany({ where: { projectId: P }, select: { status: true, stagingPath: true } });
  expect(rows).toHaveLength(SAMPLES.length + 1);
  expect(rows.filter((x) => x.status === "deidentified").length).toBeGreaterThanOrEqual(4);
  expect(rows.filter((x) => x.status === "duplicate").length).toBeGreaterThanOrEqual(1);
  expect(await db.prisma.archiveInstance.count()).toBeGreaterThanOrEqual(4);

  // Quarantine keeps its originals until resolved.
  const quarantined = new Set(rows.filter((x) => x.status === "quarantined").map((x) => path.join(dataDir, x.stagingPath)));
  for (const f of quarantined) expect(existsSync(f), "a quarantined original stays").toBe(true);

  const values: Array<{ name: string; value: string }> = [];
  for (const f of SAMPLES) {
    const ds = parseDicom(new BufferSource(readFileSync(f))).dataset;
    for (const [name, tag] of Object.entries(IDENTIFYING)) {
      for (const v of (stringValue(ds, tag) ?? "").split("\\")) {
        const value = v.trim();
        if (value.length >= 6 && !values.some((x) => x.value === value)) values.push({ name, value });
      }
    }
  }
  expect(values.length).toBeGreaterThan(20);
  expect(values.map((v) => v.name)).toEqual(expect.arrayContaining(["PatientName", "PatientID", "InstitutionName", "StudyInstanceUID", "SOPInstanceUID"]));

  const hits: string[] = [];
  const searched = filesUnder(dataDir).filter((f) => !quarantined.has(f));
  expect(searched.length).toBeGreaterThan(4);
  for (const file of searched) {
    const bytes = readFileSync(file).toString("latin1");
    for (const { name, value } of values) if (bytes.includes(value)) hits.push(`${path.relative(dataDir, file)}: ${name}`);
  }
  expect(hits, "identifying values found at rest").toEqual([]);
});
