// Intake to archive, end to end through the real workers (PostgreSQL, Redis) into the XNAT test
// server over HTTP: every shared sample (MANIFEST.tsv) is received, de-identified, grouped into
// studies that become stable, and each study lands in XNAT exactly once, complete and verified.
import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { setDbHandle } from "@/server/db";
import { sealSecret } from "@/server/secrets";
import { experimentLabel } from "@/lib/archive/driver";
import type { XnatTestServer } from "../xnat/server";
import { ALICE, SAMPLES, startServer } from "../xnat/helpers";
import { stageFile } from "./helpers-intake";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-archive-e2e-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-archive-e2e-${process.pid}-${randomBytes(3).toString("hex")}`;
process.env.ATRIUM_SECRET_KEY ??= "atrium-test-secret-key-not-for-production";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let server: XnatTestServer;
const P = "ALLSAMPLES";

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  server = await startServer();
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "All samples" } });
  await db.prisma.projectIntake.create({ data: { projectId: P, stableAfterSeconds: 2 } });
  await db.prisma.projectArchiveTarget.create({
    data: { projectId: P, kind: "xnat", xnatUrl: server.url, xnatProject: "P1", xnatUser: ALICE.login, xnatSecretSealed: sealSecret(ALICE.password, { table: "ProjectArchiveTarget", id: P, field: "xnatSecretSealed" }) },
  });
});
afterAll(async () => {
  await emptyQueuesAndDisconnect(["archive", "deid", "intake-stability", "health", "webhook-pull"]);
  setDbHandle(undefined);
  await db?.drop();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

it("every sample is received, de-identified and archived; each study lands in XNAT exactly once", { timeout: 300_000 }, async () => {
  const manifest = readFileSync(path.join(SAMPLES, "MANIFEST.tsv"), "utf8").trim().split("\n").slice(1).map((l) => l.split("\t")[0]!);
  expect(manifest.length).toBeGreaterThanOrEqual(80);
  for (const f of manifest) await stageFile(db.prisma, dataDir, P, path.join(SAMPLES, f), "all-samples");

  const { startWorkers } = await import("@/workers");
  const workers = await startWorkers(); // queues the recorded instances (nothing was queued by hand)
  try {
    const t0 = Date.now();
    for (;;) {
      const [pending, studies, open] = await Promise.all([
        db.prisma.receivedInstance.count({ where: { projectId: P, status: "received" } }),
        db.prisma.intakeStudy.count({ where: { projectId: P } }),
        db.prisma.intakeStudy.count({ where: { projectId: P, status: { not: "archived" } } }),
      ]);
      if (!pending && studies > 0 && !open) break;
      const failed = await db.prisma.studyArchive.findMany({ where: { projectId: P, state: "failed" }, select: { lastError: true } });
      if (failed.length) throw new Error(`archive failed: ${failed.map((f) => f.lastError).join(" | ")}`);
      if (Date.now() - t0 > 280_000) throw new Error(`timed out: ${pending} instances pending, ${open} of ${studies} studies not archived`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await workers.close();
  }

  const studies = await db.prisma.intakeStudy.findMany({ where: { projectId: P }, include: { archive: true, instances: { where: { status: "deidentified" }, select: { id: true } } } });
  const experiments = [...server.experiments.values()].filter((e) => e.project === "P1");
  expect(studies.length).toBeGreaterThan(10);
  expect(experiments).toHaveLength(studies.length);
  for (const s of studies) {
    const label = experimentLabel(s.subjectLabel, s.studyInstanceUid);
    const found = server.experimentsByLabel("P1", label);
    expect(found, `study ${s.id}`).toHaveLength(1);
    expect(server.filesOf(found[0]!), `files of ${label}`).toHaveLength(s.instances.length);
    expect(s.archive).toMatchObject({ state: "archived", archivedInstances: s.instances.length, location: `${server.url}/data/experiments/${found[0]!.id}` });
    // Labels come from pseudonyms, never from the samples' patient names or ids.
    expect(label).toMatch(/^SUBJ-\d+_[0-9A-F]{8}$/);
  }
  const deidentified = await db.prisma.receivedInstance.count({ where: { projectId: P, status: "deidentified" } });
  expect(experiments.reduce((n, e) => n + server.filesOf(e).length, 0)).toBe(deidentified);
  // Every upload asked XNAT not to anonymise again.
  expect(server.requests.filter((r) => r.path === "/data/services/import").every((r) => r.query.prevent_anon === "true")).toBe(true);
});
