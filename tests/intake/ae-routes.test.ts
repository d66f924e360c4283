// Which project a called AE title routes to, who may call it, and the settings that say so.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { decideAssociation, aeTitleSchema } from "@/lib/intake/ae";
import { decideCStoreAssociation } from "@/server/intake/routes";
import { intakeSummary } from "@/server/intake/summary";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, snapshot, type People } from "../helpers/fixtures";

describe("association policy", () => {
  const route = { projectId: "P", allowedCallingAes: [], allowedAddresses: [] };

  it("refuses an unknown called AE, and allow-lists calling AEs and addresses when set", () => {
    expect(decideAssociation(null, "MODALITY", "10.0.0.1")).toMatchObject({ accept: false, reason: "called-ae-not-recognized" });
    expect(decideAssociation(route, "anyone", "10.0.0.1")).toEqual({ accept: true, projectId: "P" });
    const strict = { ...route, allowedCallingAes: ["CT01"], allowedAddresses: ["10.0.0.1"] };
    expect(decideAssociation(strict, " ct01 ", "::ffff:10.0.0.1")).toEqual({ accept: true, projectId: "P" });
    expect(decideAssociation(strict, "MR02", "10.0.0.1")).toMatchObject({ accept: false, reason: "calling-ae-not-recognized" });
    expect(decideAssociation(strict, "CT01", "10.0.0.2")).toMatchObject({ accept: false, reason: "calling-address-not-allowed" });
  });

  it("validates AE titles as PS3.5 says", () => {
    expect(aeTitleSchema.parse("  demo ")).toBe("DEMO");
    for (const bad of ["", "   ", "A".repeat(17), "BACK\\SLASH", "TAB\tAE"]) expect(aeTitleSchema.safeParse(bad).success).toBe(false);
  });
});

describe("AE routes in the database", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let people: People;
  beforeAll(async () => {
    db = await createTestDatabase();
    people = await createPeople(db.prisma);
  });
  afterAll(async () => db?.drop());

  it("routes a called AE title to its project, case-insensitively, and refuses others", async () => {
    const f = await createProjectFixture(db.prisma, people, "ROUTED", "private");
    await callerFor(db.prisma, people.sessions.owner).intake.addAeRoute({ projectId: f.projectId, aeTitle: "brain_ct", allowedCallingAes: ["CT01"] });
    expect(await decideCStoreAssociation(db.prisma, "CT01", "BRAIN_CT ", "127.0.0.1")).toEqual({ accept: true, projectId: "ROUTED" });
    expect(await decideCStoreAssociation(db.prisma, "OTHER", "BRAIN_CT", "127.0.0.1")).toMatchObject({ accept: false, reason: "calling-ae-not-recognized" });
    expect(await decideCStoreAssociation(db.prisma, "CT01", "NOBODY", "127.0.0.1")).toMatchObject({ accept: false, reason: "called-ae-not-recognized" });
  });

  it("one called AE title routes to one project: a second claim is refused and changes nothing", async () => {
    const a = await createProjectFixture(db.prisma, people, "FIRST", "private");
    const b = await createProjectFixture(db.prisma, people, "SECOND", "private");
    const owner = callerFor(db.prisma, people.sessions.owner);
    await owner.intake.addAeRoute({ projectId: a.projectId, aeTitle: "SHARED" });
    const before = await snapshot(db.prisma);
    const err = await owner.intake.addAeRoute({ projectId: b.projectId, aeTitle: "shared" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCError);
    expect((err as TRPCError).code).toBe("CONFLICT");
    expect((err as TRPCError).message).toMatch(/SHARED already routes to project FIRST.*choose another AE title/);
    expect(await snapshot(db.prisma)).toEqual(before);
  });

  it("settings changes are audited, and an out-of-range stable period is refused", async () => {
    const f = await createProjectFixture(db.prisma, people, "SETTINGS", "private");
    const owner = callerFor(db.prisma, people.sessions.owner);
    expect(await owner.intake.updateSettings({ projectId: f.projectId, stableAfterSeconds: 120 })).toEqual({ changed: ["stableAfterSeconds"] });
    expect(await owner.intake.updateSettings({ projectId: f.projectId, stableAfterSeconds: 120 })).toEqual({ changed: [] });
    const audit = await db.prisma.auditEvent.findMany({ where: { projectId: f.projectId, action: "intake.settings" } });
    expect(audit.map((a) => [a.before, a.after])).toEqual([[{ stableAfterSeconds: 60 }, { stableAfterSeconds: 120 }]]);
    await expect(owner.intake.updateSettings({ projectId: f.projectId, stableAfterSeconds: 1 })).rejects.toThrow(/At least 5 seconds/);
    expect((await owner.intake.settings({ projectId: f.projectId })).stableAfterSeconds).toBe(120);
  });

  it("summarises a project's instances and studies by state", async () => {
    const f = await createProjectFixture(db.prisma, people, "COUNTS", "private");
    const base = { channel: "cstore" as const, batchId: "assoc-1", stagingPath: "staging/x.dcm", sizeBytes: 10, sha256: "0".repeat(64), projectId: f.projectId };
    await db.prisma.receivedInstance.createMany({
      data: [
        { ...base, status: "deidentified" },
        { ...base, status: "deidentified" },
        { ...base, status: "duplicate" },
        { ...base, status: "quarantined", reason: "Not DICOM: no DICM prefix and no readable dataset." },
      ],
    });
    await db.prisma.intakeStudy.create({ data: { projectId: f.projectId, studyInstanceUid: "2.25.1", subjectLabel: "SUBJ-0001", instanceCount: 2 } });
    const s = await intakeSummary(db.prisma, f.projectId);
    // The fixture itself holds one quarantined instance, one held for a pixel review and one study
    // whose archive failed.
    expect(s.instances).toEqual({ received: 0, deidentified: 2, duplicate: 1, skipped: 0, quarantined: 2, review: 1, total: 6 });
    expect(s.studies).toMatchObject({ receiving: 1, failed: 1, total: 2 });
    expect(s.quarantineReasons).toEqual(
      expect.arrayContaining([
        { reason: "Not DICOM: no DICM prefix and no readable dataset.", count: 1 },
        { reason: "Not DICOM (fixture).", count: 1 },
      ]),
    );
  });
});
