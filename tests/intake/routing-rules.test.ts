// Routing decisions with routing rules, against the real PostgreSQL (and Redis for the queue):
// project-bound ways in must match one of the project's enabled rules when it has any; the
// site-wide AE title routes by the rules of the projects site admins enabled for it (in their
// order, rules by position; tests/intake/site-routing.test.ts covers that decision), and what
// matches nothing is quarantined with no project. The last part drives real DCMTK
// storescu against the C-STORE listener.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { createPeople, type People } from "../helpers/fixtures";
import { clearRuleCache, resolveRoute } from "@/server/intake/routing";
import { startDicomListener } from "@/server/intake/dicom-listener";
import { decideCStoreAssociation } from "@/server/intake/routes";
import { SAMPLES_DIR } from "@/lib/samples";
import { freePort, run, storescuConfig, storescuSuccesses } from "../dicom-net/helpers";
import type { StagedFile } from "@/server/intake/receive";
import type { ScpHandle } from "@/lib/dicom-net/scp";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-routing-"));

const MR = ["dwv__bbmri-53323131.dcm", "dwv__bbmri-53323275.dcm"].map((f) => path.join(SAMPLES_DIR, f));
const CT = ["highdicom__ct_image.dcm", "pydicom__CT_small.dcm"].map((f) => path.join(SAMPLES_DIR, f));
const US = [path.join(SAMPLES_DIR, "dwv__gdcm-US-RGB-8-esopecho.dcm")];

function staged(file: string): StagedFile {
  const dir = path.join(dataDir, "staging", "test");
  mkdirSync(dir, { recursive: true });
  const p = path.join(dir, `${Math.random().toString(36).slice(2)}.dcm`);
  copyFileSync(file, p);
  return { path: p, sizeBytes: 1, sha256: "0".repeat(64) };
}

/** `site`: enabled for routing the site AE title (as a site admin would), last in the order. */
async function project(id: string, rules: { expression: string; enabled?: boolean }[] = [], site = false) {
  await db.prisma.project.create({
    data: { id, idLower: id.toLowerCase(), name: id, members: { create: { userId: people.users.owner.id, role: "owner" } } },
  });
  if (site) await db.prisma.siteRoutingProject.create({ data: { projectId: id, position: (await db.prisma.siteRoutingProject.count()) + 1 } });
  for (const [position, r] of rules.entries()) {
    await db.prisma.routingRule.create({ data: { projectId: id, position, expression: r.expression, enabled: r.enabled ?? true } });
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
});
beforeEach(() => clearRuleCache());
afterAll(async () => {
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  await emptyQueuesAndDisconnect(["deid"]);
});

describe("routing an instance bound to a project", () => {
  it("accepts everything when the project has no enabled rules", async () => {
    await project("OPEN", [{ expression: 'Modality == "XX"', enabled: false }]);
    expect(await resolveRoute(db.prisma, { projectId: "OPEN" }, staged(CT[0]!))).toEqual({ projectId: "OPEN" });
  });

  it("accepts what matches one of its rules and quarantines the rest in the project, without header values in the reason", async () => {
    await project("NEURO", [{ expression: 'Modality == "CT" && StudyDescription ~ /nothing-like-this/' }, { expression: 'Modality == "MR"' }]);
    expect(await resolveRoute(db.prisma, { projectId: "NEURO" }, staged(MR[0]!))).toEqual({ projectId: "NEURO" });
    const miss = await resolveRoute(db.prisma, { projectId: "NEURO" }, staged(CT[0]!));
    expect(miss).toMatchObject({ projectId: "NEURO", quarantine: { code: "rule_mismatch" } });
    expect(miss.quarantine!.reason).toMatch(/No routing rule of project NEURO matched this instance \(2 enabled rules checked\)/);
    expect(miss.quarantine!.reason).not.toMatch(/\bCT\b/);
  });

  it("quarantines a file that cannot be read when rules must be checked", async () => {
    const bad = path.join(dataDir, "not-dicom.dcm");
    writeFileSync(bad, "this is not DICOM");
    const r = await resolveRoute(db.prisma, { projectId: "NEURO" }, { path: bad, sizeBytes: 17, sha256: "0".repeat(64) });
    expect(r).toMatchObject({ projectId: "NEURO", quarantine: { code: "not_dicom" } });
    expect(r.quarantine!.reason).toMatch(/cannot be read as DICOM/);
  });

  it("passes a refusal of the way in through as no_route", async () => {
    expect(await resolveRoute(db.prisma, { projectId: null, reason: "The route went away." }, staged(CT[0]!))).toEqual({
      projectId: null,
      quarantine: { reason: "The route went away.", code: "no_route" },
    });
  });

  it("sees rule changes within the cache period", async () => {
    await project("LATER");
    expect(await resolveRoute(db.prisma, { projectId: "LATER" }, staged(CT[0]!))).toEqual({ projectId: "LATER" });
    await db.prisma.routingRule.create({ data: { projectId: "LATER", position: 0, expression: 'Modality == "MR"' } });
    // Cached for up to 2 s; clearing (as the procedures do) or waiting makes it current.
    clearRuleCache();
    expect(await resolveRoute(db.prisma, { projectId: "LATER" }, staged(CT[0]!))).toMatchObject({ quarantine: { code: "rule_mismatch" } });
    await db.prisma.routingRule.deleteMany({ where: { projectId: "LATER" } });
  });
});

describe("routing by the site AE title", () => {
  it("tries the enabled projects in order and rules by position; the first match wins; nothing matches → no project", async () => {
    await project("A_BRAIN", [{ expression: 'Modality == "CT" && Rows > 100000' }, { expression: 'Modality == "MR"' }], true);
    await project("B_BODY", [{ expression: 'Modality == "CT" || Modality == "MR"' }], true);
    expect(await resolveRoute(db.prisma, { site: true }, staged(MR[0]!))).toEqual({ projectId: "A_BRAIN" });
    expect(await resolveRoute(db.prisma, { site: true }, staged(CT[0]!))).toEqual({ projectId: "B_BODY" });
    const none = await resolveRoute(db.prisma, { site: true }, staged(US[0]!));
    expect(none).toMatchObject({ projectId: null, quarantine: { code: "no_route" } });
    expect(none.quarantine!.reason).toMatch(/^No project accepts this: it was sent to the site AE title ATRIUM and matched no routing rule/);
  });

  it("accepts any caller at association for the site AE title", async () => {
    expect(await decideCStoreAssociation(db.prisma, "ANYONE", "atrium", "10.9.8.7")).toEqual({ accept: true, projectId: null, site: true });
  });
});

describe("storescu to the site AE title", () => {
  let scp: ScpHandle;
  let port: number;
  beforeAll(async () => {
    await db.prisma.routingRule.deleteMany({});
    await db.prisma.project.deleteMany({});
    await project("BRAIN", [{ expression: 'Modality == "MR"' }], true);
    await project("CHEST", [{ expression: '(0008,0060) == "CT" && Rows >= 64' }], true);
    await db.prisma.aeRoute.create({ data: { aeTitle: "BRAIN_MRI", projectId: "BRAIN", allowedCallingAes: [], allowedAddresses: [] } });
    clearRuleCache();
    port = await freePort();
    scp = await startDicomListener({ prisma: db.prisma, dataDir, port, host: "127.0.0.1" });
  });
  afterAll(async () => scp?.close({ timeoutMs: 2000 }));

  it("routes MR to one project and CT to the other by their rules; the unmatched instance waits in quarantine with no project", async () => {
    const files = [...MR, ...CT, ...US];
    const cfg = await storescuConfig(files, dataDir);
    const r = await run("storescu", ["-nh", "-v", "-xf", cfg, "Default", "-aec", "ATRIUM", "-aet", "SOMESCANNER", "127.0.0.1", String(port), ...files], { timeoutMs: 60_000 });
    expect(storescuSuccesses(r.stdout + r.stderr), r.stderr).toHaveLength(5);
    const rows = await db.prisma.receivedInstance.findMany({ where: { calledAe: "ATRIUM" }, select: { projectId: true, status: true, reasonCode: true, reason: true } });
    expect(rows).toHaveLength(5);
    const count = (p: string | null, status: string) => rows.filter((x) => x.projectId === p && x.status === status).length;
    expect(count("BRAIN", "received")).toBe(2);
    expect(count("CHEST", "received")).toBe(2);
    expect(count(null, "quarantined")).toBe(1);
    const q = rows.find((x) => x.status === "quarantined")!;
    expect(q.reasonCode).toBe("no_route");
    expect(q.reason).toMatch(/No project accepts this/);
  });

  it("quarantines, in the project, what its own AE title receives but its rules do not accept", async () => {
    const cfg = await storescuConfig(CT.slice(0, 1), dataDir);
    const r = await run("storescu", ["-nh", "-v", "-xf", cfg, "Default", "-aec", "BRAIN_MRI", "-aet", "CT01", "127.0.0.1", String(port), CT[0]!], { timeoutMs: 60_000 });
    expect(storescuSuccesses(r.stdout + r.stderr), r.stderr).toHaveLength(1);
    const row = await db.prisma.receivedInstance.findFirstOrThrow({ where: { calledAe: "BRAIN_MRI" }, include: { events: { orderBy: { id: "asc" } } } });
    expect(row).toMatchObject({ projectId: "BRAIN", status: "quarantined", reasonCode: "rule_mismatch" });
    expect(row.events.map((e) => e.step)).toEqual(["received", "quarantined"]);
  });
});
