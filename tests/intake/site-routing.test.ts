// Governance of the site AE title (issue #17 §1): site admins decide which projects take part in
// routing what scanners send to ATRIUM_AE_TITLE, and in what order. A rule of a project that is not
// enabled is never consulted for site traffic, whatever it says (a catch-all included); owners still
// edit and test their rules, and see whether their project is enabled. Every change is audited as a
// site event and in the project's log. Against the real PostgreSQL (and Redis for the queue).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { clearRuleCache, resolveRoute } from "@/server/intake/routing";
import { SAMPLES_DIR } from "@/lib/samples";
import type { StagedFile } from "@/server/intake/receive";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-site-routing-"));
process.env.ATRIUM_DATA_DIR = dataDir;
const MR = path.join(SAMPLES_DIR, "dwv__bbmri-53323131.dcm");
const CT = path.join(SAMPLES_DIR, "highdicom__ct_image.dcm");
const CATCH_ALL = 'SOPInstanceUID != ""';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;

function staged(file: string): StagedFile {
  const dir = path.join(dataDir, "staging", "test");
  mkdirSync(dir, { recursive: true });
  const p = path.join(dir, `${Math.random().toString(36).slice(2)}.dcm`);
  copyFileSync(file, p);
  return { path: p, sizeBytes: 1, sha256: "0".repeat(64) };
}

async function project(id: string, rules: string[]) {
  await db.prisma.project.create({
    data: { id, idLower: id.toLowerCase(), name: id, members: { create: { userId: people.users.owner.id, role: "owner" } } },
  });
  for (const [position, expression] of rules.entries()) {
    await db.prisma.routingRule.create({ data: { projectId: id, position, expression, enabled: true, createdById: people.users.owner.id } });
  }
}

const admin = () => callerFor(db.prisma, people.sessions.siteAdmin);
const owner = () => callerFor(db.prisma, people.sessions.owner);

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

describe("site AE routing is decided by site admins", () => {
  it("a catch-all rule of a project not enabled for site routing receives nothing sent to the site AE title", async () => {
    await project("GREEDY", [CATCH_ALL]);
    const r = await resolveRoute(db.prisma, { site: true }, staged(MR));
    expect(r).toMatchObject({ projectId: null, quarantine: { code: "no_route" } });
    expect(r.quarantine!.reason).toMatch(/No project accepts this/);
    expect(r.quarantine!.reason).toMatch(/site admin/i);
    // Its own ways in still follow its rules: the rules are not disabled, only not consulted for site traffic.
    expect(await resolveRoute(db.prisma, { projectId: "GREEDY" }, staged(CT))).toEqual({ projectId: "GREEDY" });
  });

  it("only enabled projects are tried, in the order the site admins set, not in id order", async () => {
    await project("A_FIRST", [CATCH_ALL]);
    await project("Z_LAST", [CATCH_ALL]);
    await project("M_MR", ['Modality == "MR"']);
    await admin().admin.setSiteRouting({ projectId: "Z_LAST", enabled: true });
    await admin().admin.setSiteRouting({ projectId: "M_MR", enabled: true });
    await admin().admin.setSiteRouting({ projectId: "A_FIRST", enabled: true });
    // Z_LAST comes first although A_FIRST (and GREEDY) sort before it.
    expect(await resolveRoute(db.prisma, { site: true }, staged(MR))).toEqual({ projectId: "Z_LAST" });
    await admin().admin.reorderSiteRouting({ projectIds: ["M_MR", "A_FIRST", "Z_LAST"] });
    clearRuleCache();
    expect(await resolveRoute(db.prisma, { site: true }, staged(MR))).toEqual({ projectId: "M_MR" });
    expect(await resolveRoute(db.prisma, { site: true }, staged(CT))).toEqual({ projectId: "A_FIRST" });
    // Disabling takes the project out at once (the procedure clears this process's cache).
    await admin().admin.setSiteRouting({ projectId: "A_FIRST", enabled: false });
    expect(await resolveRoute(db.prisma, { site: true }, staged(CT))).toEqual({ projectId: "Z_LAST" });
    const listed = await admin().admin.siteRouting();
    expect(listed.enabled.map((p) => p.projectId)).toEqual(["M_MR", "Z_LAST"]);
    expect(listed.others.map((p) => p.projectId)).toEqual(expect.arrayContaining(["A_FIRST", "GREEDY"]));
    expect(listed.others.find((p) => p.projectId === "GREEDY")).toMatchObject({ enabledRules: 1 });
  });

  it("a reorder must name exactly the enabled projects", async () => {
    await expect(admin().admin.reorderSiteRouting({ projectIds: ["M_MR"] })).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(admin().admin.reorderSiteRouting({ projectIds: ["M_MR", "Z_LAST", "GREEDY"] })).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(admin().admin.setSiteRouting({ projectId: "NO_SUCH", enabled: true })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("every change is audited as a site event and in the project's log", async () => {
    const site = await db.prisma.auditEvent.findMany({ where: { projectId: null, action: { startsWith: "site.routing" } }, orderBy: { id: "asc" } });
    expect(site.map((e) => e.action)).toEqual(["site.routing.enable", "site.routing.enable", "site.routing.enable", "site.routing.reorder", "site.routing.disable"]);
    expect(site.every((e) => e.actorId === people.users.siteAdmin.id)).toBe(true);
    expect(site[3]!.before).toEqual(["Z_LAST", "M_MR", "A_FIRST"]);
    expect(site[3]!.after).toEqual(["M_MR", "A_FIRST", "Z_LAST"]);
    const inA = await db.prisma.auditEvent.findMany({ where: { projectId: "A_FIRST", action: { startsWith: "site.routing" } }, orderBy: { id: "asc" } });
    expect(inA.map((e) => [e.action, e.after])).toEqual([
      ["site.routing.enable", { enabled: true, position: 3 }],
      ["site.routing.reorder", { enabled: true, position: 2 }],
      ["site.routing.disable", { enabled: false }],
    ]);
  });

  it("owners see in their routing panel whether their project is enabled, and still edit and test their rules", async () => {
    expect(await owner().rules.siteRouting({ projectId: "M_MR" })).toMatchObject({ enabled: true, position: 1, of: 2, siteAeTitle: "ATRIUM" });
    expect(await owner().rules.siteRouting({ projectId: "GREEDY" })).toMatchObject({ enabled: false, position: null, of: 2 });
    const created = await owner().rules.create({ projectId: "GREEDY", expression: 'Modality == "CT"' });
    expect(created.position).toBe(1);
    clearRuleCache();
    // Still not consulted for site traffic.
    expect((await resolveRoute(db.prisma, { site: true }, staged(CT))).projectId).toBe("Z_LAST");
  });

  it("owners cannot enable their own project, and a non-admin sees no site routing list", async () => {
    for (const who of ["owner", "member", "outsider"] as const) {
      const c = callerFor(db.prisma, people.sessions[who]);
      await expect(c.admin.setSiteRouting({ projectId: "GREEDY", enabled: true })).rejects.toBeInstanceOf(TRPCError);
      await expect(c.admin.siteRouting()).rejects.toMatchObject({ code: "FORBIDDEN" });
    }
    expect(await db.prisma.siteRoutingProject.count({ where: { projectId: "GREEDY" } })).toBe(0);
  });

  it("re-running the routing rules on an unrouted instance consults only enabled projects", async () => {
    await db.prisma.siteRoutingProject.deleteMany({});
    clearRuleCache();
    const rel = path.join("staging", "test", "unrouted.dcm");
    copyFileSync(MR, path.join(dataDir, rel));
    const inst = await db.prisma.receivedInstance.create({
      data: { projectId: null, channel: "cstore", batchId: "t", calledAe: "ATRIUM", stagingPath: rel, sizeBytes: 1, sha256: "0".repeat(64), status: "quarantined", reason: "No project accepts this.", reasonCode: "no_route" },
    });
    const r = await admin().admin.rerouteUnrouted({ instanceId: inst.id });
    expect(r.routed).toBe(false);
    expect(r).toMatchObject({ reason: expect.stringMatching(/no project is enabled for site routing/i) });
    await admin().admin.setSiteRouting({ projectId: "M_MR", enabled: true });
    expect(await admin().admin.rerouteUnrouted({ instanceId: inst.id })).toEqual({ routed: true, projectId: "M_MR" });
  });

  it("deleting a project removes it from the site routing", async () => {
    await db.prisma.project.delete({ where: { id: "M_MR" } });
    clearRuleCache();
    expect(await db.prisma.siteRoutingProject.count()).toBe(0);
    expect((await resolveRoute(db.prisma, { site: true }, staged(MR))).projectId).toBeNull();
  });
});
