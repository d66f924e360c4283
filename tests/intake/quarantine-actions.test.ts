// Quarantine actions and routing rules through the API, against the real PostgreSQL and Redis:
// filters, route to another project (audited on both), the site admins' unrouted view, rules
// with positioned parse errors, "test this rule" on a sample, and the de-identification settings.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { SAMPLES_DIR } from "@/lib/samples";
import { clearRuleCache } from "@/server/intake/routing";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

const dataDir = path.join(os.tmpdir(), `atrium-quarantine-${process.pid}`);
process.env.ATRIUM_DATA_DIR = dataDir;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
const MR = path.join(SAMPLES_DIR, "dwv__bbmri-53323131.dcm");
const CT = path.join(SAMPLES_DIR, "highdicom__ct_image.dcm");

async function project(id: string, ownerId: string, memberId?: string) {
  await db.prisma.project.create({
    data: {
      id,
      idLower: id.toLowerCase(),
      name: id,
      members: { create: [{ userId: ownerId, role: "owner" as const }, ...(memberId ? [{ userId: memberId, role: "member" as const }] : [])] },
    },
  });
}

let n = 0;
async function quarantined(projectId: string | null, opts: { file?: string; reasonCode?: string; channel?: "cstore" | "stow" | "upload"; receivedAt?: Date } = {}) {
  const rel = path.join("staging", "test", `q${++n}.dcm`);
  mkdirSync(path.join(dataDir, "staging", "test"), { recursive: true });
  copyFileSync(opts.file ?? CT, path.join(dataDir, rel));
  return db.prisma.receivedInstance.create({
    data: {
      projectId,
      channel: opts.channel ?? "cstore",
      batchId: "t",
      stagingPath: rel,
      sizeBytes: 1,
      sha256: "0".repeat(64),
      status: "quarantined",
      reason: "A reason a person can read.",
      reasonCode: opts.reasonCode ?? "rule_mismatch",
      ...(opts.receivedAt ? { receivedAt: opts.receivedAt } : {}),
    },
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  await project("SRC", people.users.owner.id, people.users.member.id);
  await project("DST", people.users.owner.id);
  await project("FOREIGN", people.users.outsider.id);
});
afterAll(async () => {
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  await emptyQueuesAndDisconnect(["deid"]);
});

const owner = () => callerFor(db.prisma, people.sessions.owner);
const admin = () => callerFor(db.prisma, people.sessions.siteAdmin);

describe("the quarantine list", () => {
  it("filters by reason code, channel and date range, and counts the reason codes", async () => {
    await project("FILTERS", people.users.owner.id, people.users.member.id);
    const old = await quarantined("FILTERS", { reasonCode: "not_dicom", channel: "stow", receivedAt: new Date("2026-01-01T10:00:00Z") });
    const a = await quarantined("FILTERS", { reasonCode: "rule_mismatch" });
    const b = await quarantined("FILTERS", { reasonCode: "rule_mismatch", channel: "upload" });
    const member = callerFor(db.prisma, people.sessions.member);
    const ids = async (f: Record<string, unknown>) => (await member.intake.quarantine({ projectId: "FILTERS", ...f })).items.map((i) => i.id).sort();
    expect(await ids({})).toEqual([old.id, a.id, b.id].sort());
    expect(await ids({ reasonCode: "rule_mismatch" })).toEqual([a.id, b.id].sort());
    expect(await ids({ channel: "stow" })).toEqual([old.id]);
    expect(await ids({ to: new Date("2026-02-01T00:00:00Z") })).toEqual([old.id]);
    expect(await ids({ from: new Date("2026-02-01T00:00:00Z"), reasonCode: "rule_mismatch", channel: "cstore" })).toEqual([a.id]);
    const all = await member.intake.quarantine({ projectId: "FILTERS" });
    expect(all.total).toBe(3);
    expect(all.reasonCodes).toEqual([{ code: "rule_mismatch", count: 2 }, { code: "not_dicom", count: 1 }]);
  });
});

describe("route to project", () => {
  it("moves the instance to another project the owner owns, re-queues it, and audits it on both projects", async () => {
    const q = await quarantined("SRC");
    expect(await owner().intake.routeToProject({ projectId: "SRC", instanceId: q.id, targetProjectId: "DST" })).toEqual({ projectId: "DST", queued: true });
    const row = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: q.id }, include: { events: true } });
    expect(row).toMatchObject({ projectId: "DST", status: "received", reason: null, reasonCode: null });
    expect(row.events.map((e) => e.step)).toContain("routed");
    const audits = await db.prisma.auditEvent.findMany({ where: { targetId: q.id }, orderBy: { id: "asc" } });
    expect(audits.map((a) => [a.projectId, a.action])).toEqual([
      ["SRC", "intake.route.out"],
      ["DST", "intake.route.in"],
    ]);
    const { getQueue } = await import("@/server/queues");
    expect(await getQueue("deid").getJob(q.id)).toBeTruthy();
  });

  it("refuses a target the caller does not own, and changes nothing", async () => {
    const q = await quarantined("SRC");
    const audits = await db.prisma.auditEvent.count();
    const err = await owner().intake.routeToProject({ projectId: "SRC", instanceId: q.id, targetProjectId: "FOREIGN" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCError);
    expect((err as TRPCError).code).toBe("FORBIDDEN");
    expect((err as TRPCError).message).toMatch(/only to projects you own/);
    expect(await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: q.id } })).toMatchObject({ projectId: "SRC", status: "quarantined" });
    expect(await db.prisma.auditEvent.count()).toBe(audits);
    const same = await owner().intake.routeToProject({ projectId: "SRC", instanceId: q.id, targetProjectId: "SRC" }).catch((e: unknown) => e);
    expect((same as TRPCError).code).toBe("BAD_REQUEST");
  });

  it("retry accepts the instance into its project again; delete removes it and its file", async () => {
    const r = await quarantined("SRC");
    await owner().intake.retry({ projectId: "SRC", instanceId: r.id });
    expect(await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: r.id } })).toMatchObject({ status: "received", reasonCode: null });
    const d = await quarantined("SRC");
    expect(existsSync(path.join(dataDir, d.stagingPath))).toBe(true);
    await owner().intake.deleteQuarantined({ projectId: "SRC", instanceId: d.id });
    expect(await db.prisma.receivedInstance.findUnique({ where: { id: d.id } })).toBeNull();
    expect(existsSync(path.join(dataDir, d.stagingPath))).toBe(false);
  });
});

describe("the site admins' unrouted quarantine", () => {
  it("lists what no project accepted, shows its header (audited), re-runs the rules, routes and deletes", async () => {
    const mr = await quarantined(null, { file: MR, reasonCode: "no_route" });
    const ct = await quarantined(null, { file: CT, reasonCode: "no_route" });
    const del = await quarantined(null, { file: CT, reasonCode: "no_route" });
    expect((await admin().admin.unrouted({})).items.map((i) => i.id).sort()).toEqual([mr.id, ct.id, del.id].sort());

    const header = await admin().admin.unroutedHeader({ instanceId: mr.id });
    expect("rows" in header && header.rows.some((r) => r.keyword === "Modality" && r.value === "MR")).toBe(true);
    expect(await db.prisma.auditEvent.count({ where: { action: "intake.header.view", targetId: mr.id, projectId: null } })).toBe(1);

    // No rule matches yet; then an owner adds one for MR and the admin re-runs routing.
    expect(await admin().admin.rerouteUnrouted({ instanceId: mr.id })).toMatchObject({ routed: false });
    await owner().rules.create({ projectId: "DST", expression: 'Modality == "MR"', acceptOnlyMatching: true });
    // The site AE title consults only the projects site admins enabled for it.
    expect(await admin().admin.rerouteUnrouted({ instanceId: mr.id })).toMatchObject({ routed: false });
    await admin().admin.setSiteRouting({ projectId: "DST", enabled: true });
    expect(await admin().admin.rerouteUnrouted({ instanceId: mr.id })).toEqual({ routed: true, projectId: "DST" });
    expect(await admin().admin.rerouteUnrouted({ instanceId: ct.id })).toMatchObject({ routed: false });

    await admin().admin.routeUnrouted({ instanceId: ct.id, targetProjectId: "SRC" });
    expect(await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: ct.id } })).toMatchObject({ projectId: "SRC", status: "received" });
    expect(await db.prisma.auditEvent.findMany({ where: { targetId: ct.id }, select: { projectId: true, action: true }, orderBy: { id: "asc" } })).toEqual([
      { projectId: null, action: "intake.reroute" },
      { projectId: null, action: "intake.route.out" },
      { projectId: "SRC", action: "intake.route.in" },
    ]);
    const missing = await admin().admin.routeUnrouted({ instanceId: del.id, targetProjectId: "NOPE" }).catch((e: unknown) => e);
    expect((missing as TRPCError).code).toBe("NOT_FOUND");

    await admin().admin.deleteUnrouted({ instanceId: del.id });
    expect((await admin().admin.unrouted({})).items).toEqual([]);
    await db.prisma.routingRule.deleteMany({ where: { projectId: "DST" } });
    await admin().admin.setSiteRouting({ projectId: "DST", enabled: false });
    clearRuleCache();
  });

  it("is for site admins only", async () => {
    const err = await owner().admin.unrouted({}).catch((e: unknown) => e);
    expect((err as TRPCError).code).toBe("FORBIDDEN");
  });
});

describe("routing rules through the API", () => {
  it("refuses an expression that does not parse, saying where and what was expected", async () => {
    const err = await owner().rules.create({ projectId: "SRC", expression: 'Modality = "MR"' }).catch((e: unknown) => e);
    expect((err as TRPCError).code).toBe("BAD_REQUEST");
    expect((err as TRPCError).message).toMatch(/At column 10: expected .*==.*a single .*=.* is not an operator/);
  });

  it("creates in order, updates, reorders and deletes, each audited", async () => {
    const a = await owner().rules.create({ projectId: "SRC", expression: 'Modality == "MR"', description: "MR", acceptOnlyMatching: true });
    const b = await owner().rules.create({ projectId: "SRC", expression: 'Modality == "CT"', enabled: false });
    expect([a.position, b.position]).toEqual([0, 1]);
    expect(await owner().rules.update({ projectId: "SRC", ruleId: b.id, enabled: true, expression: 'Modality == "CT"' })).toEqual({ changed: ["enabled"] });
    await owner().rules.reorder({ projectId: "SRC", ruleIds: [b.id, a.id] });
    const member = callerFor(db.prisma, people.sessions.member);
    expect((await member.rules.list({ projectId: "SRC" })).map((r) => [r.id, r.position, r.enabled])).toEqual([
      [b.id, 0, true],
      [a.id, 1, true],
    ]);
    const stale = await owner().rules.reorder({ projectId: "SRC", ruleIds: [a.id] }).catch((e: unknown) => e);
    expect((stale as TRPCError).code).toBe("CONFLICT");
    await owner().rules.remove({ projectId: "SRC", ruleId: a.id });
    await owner().rules.remove({ projectId: "SRC", ruleId: b.id });
    const actions = (await db.prisma.auditEvent.findMany({ where: { projectId: "SRC", action: { startsWith: "intake.rule." } }, orderBy: { id: "asc" } })).map((e) => e.action);
    expect(actions).toEqual(["intake.rule.create", "intake.rule.create", "intake.rule.update", "intake.rule.reorder", "intake.rule.delete", "intake.rule.delete"]);
    clearRuleCache();
  });

  it("tests an expression against a sample: match, the values used, or the parse error; stores nothing", async () => {
    const sampleBase64 = readFileSync(MR).toString("base64");
    const before = await db.prisma.auditEvent.count();
    const hit = await owner().rules.test({ projectId: "SRC", expression: 'Modality == "MR" && Rows >= 64 && PatientComments == ""', sampleBase64 });
    expect(hit).toMatchObject({ ok: true, matched: true });
    expect(hit.ok && hit.used.map((u) => [u.keyword, u.present])).toEqual([
      ["Modality", true],
      ["Rows", true],
      ["PatientComments", false],
    ]);
    expect(await owner().rules.test({ projectId: "SRC", expression: 'Modality == "CT"', sampleBase64 })).toMatchObject({ ok: true, matched: false });
    expect(await owner().rules.test({ projectId: "SRC", expression: "Modality ==", sampleBase64 })).toMatchObject({ ok: false, error: { column: 12 } });
    expect(await owner().rules.test({ projectId: "SRC", expression: "Modality == 1", sampleBase64: Buffer.from("nope").toString("base64") })).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/cannot be read as DICOM/) },
    });
    expect(await db.prisma.auditEvent.count()).toBe(before);
  });
});

describe("de-identification settings", () => {
  it("accepts a valid profile and CTP script, refuses invalid ones with what is wrong, and audits a script by its hash", async () => {
    await owner().intake.updateSettings({ projectId: "SRC", deidProfile: "basic+cleanDescriptors" });
    // A retain option beyond the site floor waits for a site admin (tests/intake/deid-floor.test.ts).
    expect((await owner().intake.updateSettings({ projectId: "SRC", deidProfile: "basic+retainUIDs+cleanDescriptors" })).pendingApproval?.message).toMatch(/site admin must approve/);
    const bad = await owner().intake.updateSettings({ projectId: "SRC", deidProfile: "basic+retainEverything" }).catch((e: unknown) => e);
    expect((bad as TRPCError).message).toMatch(/unknown profile option .*retainEverything/);
    const badScript = await owner().intake.updateSettings({ projectId: "SRC", deidScript: "<notascript/>" }).catch((e: unknown) => e);
    expect((badScript as TRPCError).message).toMatch(/CTP script cannot be read/);
    const script =
      '<script><e en="T" t="00100010" n="PatientName">@empty()</e><e t="00080018">@hashuid(1.2.3,this)</e><e t="0020000D">@hashuid(1.2.3,this)</e>' +
      '<r t="unspecifiedelements"/><r t="privategroups"/></script>';
    await owner().intake.updateSettings({ projectId: "SRC", deidScript: script });
    const s = await owner().intake.settings({ projectId: "SRC" });
    expect(s).toMatchObject({ deidProfile: "basic+cleanDescriptors", hasDeidScript: true, deidScript: script, siteAeTitle: "ATRIUM" });
    expect((await callerFor(db.prisma, people.sessions.member).intake.settings({ projectId: "SRC" })).deidScript).toBeNull();
    const audit = await db.prisma.auditEvent.findFirstOrThrow({ where: { projectId: "SRC", action: "intake.settings" }, orderBy: { id: "desc" } });
    expect(JSON.stringify(audit.after)).not.toContain("PatientName");
    await owner().intake.updateSettings({ projectId: "SRC", deidScript: null });
    expect((await owner().intake.settings({ projectId: "SRC" })).hasDeidScript).toBe(false);
  });

  it("keeps the site AE title for rules", async () => {
    const err = await owner().intake.addAeRoute({ projectId: "SRC", aeTitle: "atrium" }).catch((e: unknown) => e);
    expect((err as TRPCError).code).toBe("CONFLICT");
    expect((err as TRPCError).message).toMatch(/shared AE title/);
  });
});
