// The site de-identification floor through the API (issue #17 §0/§1), against the real
// PostgreSQL: a broken script is refused when saved, with the line and the reason; a setting that
// keeps what the floor removes is not applied until a site admin approves it (audited in the
// project AND the site); the floor check holds whatever the stored settings say; the preview of
// a script on a sample is for owners only and audited.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { SAMPLES_DIR } from "@/lib/samples";
import { deidentifyInstance } from "@/server/intake/deidentify";
import { parseDicom, stringValue } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

const dataDir = path.join(os.tmpdir(), `atrium-deid-floor-${process.pid}`);
process.env.ATRIUM_DATA_DIR = dataDir;
const CT = path.join(SAMPLES_DIR, "pydicom__CT_small.dcm");

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
const owner = () => callerFor(db.prisma, people.sessions.owner);
const admin = () => callerFor(db.prisma, people.sessions.siteAdmin);
const member = () => callerFor(db.prisma, people.sessions.member);

async function project(id: string) {
  await db.prisma.project.create({
    data: {
      id,
      idLower: id.toLowerCase(),
      name: id,
      members: { create: [{ userId: people.users.owner.id, role: "owner" as const }, { userId: people.users.member.id, role: "member" as const }] },
    },
  });
}

let n = 0;
async function staged(projectId: string, status: "received" | "quarantined" = "received") {
  const rel = path.join("staging", "floor", `i${++n}.dcm`);
  mkdirSync(path.join(dataDir, "staging", "floor"), { recursive: true });
  copyFileSync(CT, path.join(dataDir, rel));
  return db.prisma.receivedInstance.create({
    data: { projectId, channel: "upload", batchId: "t", stagingPath: rel, sizeBytes: 1, sha256: "0".repeat(64), status, ...(status === "quarantined" ? { reason: "x", reasonCode: "rule_mismatch" } : {}) },
  });
}

// A complete script except that it keeps Patient's Name.
const KEEP_NAME = `<script>
  <p t="UIDROOT">1.2.840.113654.2.70.1</p>
  <e t="00100010" n="PatientName">@keep()</e>
  <e t="00100020" n="PatientID">@hash(this,10)</e>
  <e t="00080018" n="SOPInstanceUID">@hashuid(@UIDROOT,this)</e>
  <e t="0020000D" n="StudyInstanceUID">@hashuid(@UIDROOT,this)</e>
  <e t="0020000E" n="SeriesInstanceUID">@hashuid(@UIDROOT,this)</e>
  <e t="00080016" n="SOPClassUID">@keep()</e>
  <e t="00080060" n="Modality">@keep()</e>
  <r t="unspecifiedelements"/>
</script>`;

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  await project("FLOOR");
  await project("LEGACY");
});
afterAll(async () => {
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  await emptyQueuesAndDisconnect(["deid"]);
});

describe("saving a CTP script", () => {
  it("refuses garbage, a broken end tag and an unknown function, with the line and the reason; nothing is saved", async () => {
    for (const [text, re] of [
      ["this is not a script", /line 1: .*not a script line/],
      ['<script>\n<e t="00100010">@empty()</e\n<e t="00100020">@empty()</e>\n</script>', /line 2: /],
      ['<script>\n<e t="00100010">@empty()</e>\n<e t="00100020">@hashh(this)</e>\n</script>', /line 3: .*@hashh\(\)/],
    ] as const) {
      const err = await owner().intake.updateSettings({ projectId: "FLOOR", deidScript: text }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TRPCError);
      expect((err as TRPCError).code).toBe("BAD_REQUEST");
      expect((err as TRPCError).message).toMatch(re);
    }
    expect((await owner().intake.settings({ projectId: "FLOOR" })).hasDeidScript).toBe(false);
  });

  it("does not apply a script that @keep()s Patient's Name until a site admin approves it; the decision is audited in the project and the site", async () => {
    const r = await owner().intake.updateSettings({ projectId: "FLOOR", deidScript: KEEP_NAME });
    expect(r.changed).toEqual([]);
    expect(r.pendingApproval?.message).toMatch(/site admin must approve/i);
    expect(r.pendingApproval?.keeps.join(" ")).toContain("(0010,0010)");
    expect((await owner().intake.settings({ projectId: "FLOOR" })).hasDeidScript).toBe(false);
    expect((await owner().intake.settings({ projectId: "FLOOR" })).pendingApproval?.id).toBe(r.pendingApproval!.id);

    // Meanwhile, the floor holds: an instance goes through the profile and loses its name.
    const before = await staged("FLOOR");
    expect(await deidentifyInstance(db.prisma, dataDir, before.id)).toBe("deidentified");

    const floor = await admin().admin.deidFloor();
    expect(floor.floor).toEqual({ allowedRetain: [] });
    const pending = floor.pending.find((p) => p.id === r.pendingApproval!.id);
    expect(pending).toMatchObject({ projectId: "FLOOR", kind: "script" });
    expect(pending!.keeps.join(" ")).toContain("(0010,0010)");

    await admin().admin.decideDeidApproval({ approvalId: r.pendingApproval!.id, approve: true, note: "IRB 2026-17 allows names" });
    const s = await owner().intake.settings({ projectId: "FLOOR" });
    expect(s.deidScript).toBe(KEEP_NAME);
    expect(s.pendingApproval).toBeNull();
    const audits = await db.prisma.auditEvent.findMany({ where: { action: "deid.approval.approve" } });
    expect(audits.map((a) => a.projectId).sort()).toEqual(["FLOOR", null].sort() as (string | null)[]);
    expect(JSON.stringify(audits.map((a) => [a.before, a.after]))).not.toContain("CompressedSamples");

    // Approved: the name is kept on purpose, and the instance is released.
    const after = await staged("FLOOR");
    expect(await deidentifyInstance(db.prisma, dataDir, after.id)).toBe("deidentified");
    const row = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: after.id } });
    const ds = parseDicom(new BufferSource(readFileSync(path.join(dataDir, row.outputPath!)))).dataset;
    expect(stringValue(ds, 0x00100010)).toBe("CompressedSamples^CT1");
    expect(stringValue(ds, 0x00120062)).toBe("YES");
  });

  it("a rejected request changes nothing and is audited in both logs", async () => {
    const r = await owner().intake.updateSettings({ projectId: "LEGACY", deidProfile: "basic+retainPatientCharacteristics" });
    expect(r.pendingApproval?.keeps.join(" ")).toMatch(/Retain Patient Characteristics/);
    await admin().admin.decideDeidApproval({ approvalId: r.pendingApproval!.id, approve: false, note: "not needed" });
    expect((await owner().intake.settings({ projectId: "LEGACY" })).deidProfile).toBe("basic");
    expect((await db.prisma.auditEvent.findMany({ where: { action: "deid.approval.reject" } })).map((a) => a.projectId).sort()).toEqual(["LEGACY", null].sort() as (string | null)[]);
  });

  it("quarantines, with the element path, the output of a stored script that keeps an identifier without approval", async () => {
    // A script stored before the floor existed (or written around the API).
    await db.prisma.projectIntake.upsert({ where: { projectId: "LEGACY" }, create: { projectId: "LEGACY", deidScript: KEEP_NAME }, update: { deidScript: KEEP_NAME } });
    const inst = await staged("LEGACY");
    expect(await deidentifyInstance(db.prisma, dataDir, inst.id)).toBe("quarantined");
    const row = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: inst.id } });
    expect(row.reason).toContain("(0010,0010)");
    expect(row.reason).not.toContain("CompressedSamples");
    expect(row.outputPath).toBeNull();
    await db.prisma.projectIntake.update({ where: { projectId: "LEGACY" }, data: { deidScript: null } });
  });
});

describe("the site floor", () => {
  it("is set by site admins only, audited as a site event; a retain option it allows needs no approval", async () => {
    const denied = await owner().admin.setDeidFloor({ allowedRetain: ["retainUIDs"] }).catch((e: unknown) => e);
    expect((denied as TRPCError).code).toBe("FORBIDDEN");
    await admin().admin.setDeidFloor({ allowedRetain: ["retainUIDs"] });
    expect((await admin().admin.deidFloor()).floor).toEqual({ allowedRetain: ["retainUIDs"] });
    const audit = await db.prisma.auditEvent.findFirstOrThrow({ where: { action: "site.settings", projectId: null }, orderBy: { id: "desc" } });
    expect(JSON.stringify(audit.after)).toContain("retainUIDs");
    const r = await owner().intake.updateSettings({ projectId: "LEGACY", deidProfile: "basic+retainUIDs" });
    expect(r.pendingApproval).toBeUndefined();
    expect(r.changed).toEqual(["deidProfile"]);
    await admin().admin.setDeidFloor({ allowedRetain: [] });
  });
});

describe("the preview of a script on a sample", () => {
  it("shows before/after to owners only, warns about untouched names, IDs, dates and UIDs, and audits the view", async () => {
    const inst = await staged("FLOOR", "quarantined");
    const script = '<script><e t="00081030" n="StudyDescription">@empty()</e></script>';
    const p = await owner().intake.previewDeid({ projectId: "FLOOR", deidScript: script, instanceId: inst.id });
    expect(p.rows.find((r) => r.tag === "(0010,0010)")).toMatchObject({ before: "CompressedSamples^CT1", after: "CompressedSamples^CT1", change: "kept" });
    expect(p.rows.find((r) => r.tag === "(0008,1030)")).toMatchObject({ change: "emptied" });
    const kinds = p.warnings.map((w) => w.kind);
    for (const k of ["name", "id", "date", "uid"]) expect(kinds).toContain(k);
    expect(p.outcome.kind).toBe("quarantined");
    const audit = await db.prisma.auditEvent.findFirstOrThrow({ where: { action: "deid.preview", projectId: "FLOOR" }, orderBy: { id: "desc" } });
    expect(audit).toMatchObject({ targetType: "instance", targetId: inst.id, actorId: people.users.owner.id });
    const err = await member().intake.previewDeid({ projectId: "FLOOR", deidScript: script, instanceId: inst.id }).catch((e: unknown) => e);
    expect((err as TRPCError).code).toBe("FORBIDDEN");
    // An uploaded sample works the same (read in memory, never stored).
    // (KEEP_NAME itself is approved for FLOOR by now; another version of it is not.)
    const up = await owner().intake.previewDeid({ projectId: "FLOOR", deidScript: KEEP_NAME.replace("</script>", "<!-- v2 --></script>"), sampleBase64: readFileSync(CT).toString("base64") });
    expect(up.warnings.map((w) => w.kind)).toContain("name");
    const samples = await owner().intake.previewSamples({ projectId: "FLOOR" });
    expect(samples.map((s) => s.id)).toContain(inst.id);
  });
});
