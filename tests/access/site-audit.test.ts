// The site-wide audit view for site admins (issue #17 §1): every project's audit events and the
// site's own (projectId null) in one paged list, filtered by action, project, actor and date. Views
// of original (identifying) headers of quarantined instances are PHI access: owners of the project
// (and site admins) may open them, each view is audited, and this view lists them across projects.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { SAMPLES_DIR } from "@/lib/samples";

const dataDir = path.join(os.tmpdir(), `atrium-site-audit-${process.pid}`);
process.env.ATRIUM_DATA_DIR = dataDir;
const CT = path.join(SAMPLES_DIR, "pydicom__CT_small.dcm");

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
const admin = () => callerFor(db.prisma, people.sessions.siteAdmin);

let n = 0;
async function quarantined(projectId: string | null) {
  const rel = path.join("staging", "audit", `q${++n}.dcm`);
  mkdirSync(path.join(dataDir, "staging", "audit"), { recursive: true });
  copyFileSync(CT, path.join(dataDir, rel));
  return db.prisma.receivedInstance.create({
    data: { projectId, channel: "cstore", batchId: "t", stagingPath: rel, sizeBytes: 1, sha256: "0".repeat(64), status: "quarantined", reason: "A reason.", reasonCode: projectId ? "rule_mismatch" : "no_route" },
  });
}

async function project(id: string) {
  await db.prisma.project.create({
    data: {
      id,
      idLower: id.toLowerCase(),
      name: `Project ${id}`,
      members: { create: [{ userId: people.users.owner.id, role: "owner" }, { userId: people.users.member.id, role: "member" }] },
    },
  });
}

let inA: string, inB: string, unrouted: string;
beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  await project("AUD_A");
  await project("AUD_B");
  inA = (await quarantined("AUD_A")).id;
  inB = (await quarantined("AUD_B")).id;
  unrouted = (await quarantined(null)).id;
});
afterAll(async () => {
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("original headers of quarantined instances", () => {
  it("owners open them in their project, members do not; every view is audited before the header is returned", async () => {
    const owner = callerFor(db.prisma, people.sessions.owner);
    const header = await owner.intake.originalHeader({ projectId: "AUD_A", instanceId: inA });
    expect(JSON.stringify(header)).toMatch(/PatientName|Patient's Name|00100010/);
    await owner.intake.originalHeader({ projectId: "AUD_B", instanceId: inB });
    await expect(callerFor(db.prisma, people.sessions.member).intake.originalHeader({ projectId: "AUD_A", instanceId: inA })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await admin().admin.unroutedHeader({ instanceId: unrouted });
    const views = await db.prisma.auditEvent.findMany({ where: { action: "intake.header.view" }, orderBy: { id: "asc" } });
    expect(views.map((v) => [v.projectId, v.actorId, v.targetId])).toEqual([
      ["AUD_A", people.users.owner.id, inA],
      ["AUD_B", people.users.owner.id, inB],
      [null, people.users.siteAdmin.id, unrouted],
    ]);
    // What was looked at, for the reader of the log (never a header value).
    expect(views[0]!.after).toEqual({ reasonCode: "rule_mismatch", channel: "cstore" });
  });
});

describe("the site audit view", () => {
  it("lists original-header views across every project and the site's own, newest first, with who and where", async () => {
    const r = await admin().admin.audit({ action: "header.view" });
    expect(r.total).toBe(3);
    expect(r.events.map((e) => [e.projectId, e.actorEmail, e.targetId])).toEqual([
      [null, people.users.siteAdmin.email, unrouted],
      ["AUD_B", people.users.owner.email, inB],
      ["AUD_A", people.users.owner.email, inA],
    ]);
    expect(r.events[1]!.projectName).toBe("Project AUD_B");
    expect(r.actions.map((a) => a.action)).toContain("intake.header.view");
  });

  it("lists site-settings changes and filters by project, site events only, actor and date", async () => {
    await admin().admin.setProjectCreation({ policy: "all" });
    const site = await admin().admin.audit({ siteOnly: true });
    expect(site.events.map((e) => e.action)).toEqual(["site.settings", "intake.header.view"]);
    expect(site.events[0]!.after).toMatchObject({ projectCreation: "all" });
    expect((await admin().admin.audit({ projectId: "AUD_A" })).events.map((e) => e.action)).toEqual(["intake.header.view"]);
    expect((await admin().admin.audit({ actor: "OWNER@atrium" })).total).toBe(2);
    expect((await admin().admin.audit({ actor: "owner", action: "site." })).total).toBe(0);
    await db.prisma.auditEvent.create({ data: { projectId: "AUD_A", actorId: null, action: "archive.state", createdAt: new Date("2026-01-02T10:00:00Z") } });
    expect((await admin().admin.audit({ actor: "system" })).events.map((e) => e.action)).toEqual(["archive.state"]);
    const jan = await admin().admin.audit({ from: new Date("2026-01-01T00:00:00Z"), to: new Date("2026-01-03T00:00:00Z") });
    expect(jan.events.map((e) => e.action)).toEqual(["archive.state"]);
    await expect(admin().admin.audit({ projectId: "AUD_A", siteOnly: true })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });

  it("pages through everything with a cursor", async () => {
    const all = await admin().admin.audit({ limit: 200 });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await admin().admin.audit({ limit: 2, cursor });
      expect(page.events.length).toBeLessThanOrEqual(2);
      seen.push(...page.events.map((e) => e.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(all.events.map((e) => e.id));
    expect(seen.length).toBe(all.total);
  });

  it("is for site admins only", async () => {
    for (const who of ["owner", "member", "outsider"] as const) {
      await expect(callerFor(db.prisma, people.sessions[who]).admin.audit({})).rejects.toMatchObject({ code: "FORBIDDEN" });
    }
    await expect(callerFor(db.prisma, null).admin.audit({})).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });
});
