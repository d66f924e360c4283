// Keyed patient hash (issue 17 §5): DeidSubject.patientKeyHash was SHA-256(projectId, patient key),
// so anyone holding the table could test candidate MRNs. It is now HMAC-SHA256 keyed with a
// per-project secret stored sealed (lib/crypto/secret-box), and rows written before keying are
// re-keyed (migration 20261204180000 + its data step) so existing patients keep their pseudonyms.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { createTestDatabase } from "../helpers/pg";
import { PrismaPseudonymStore } from "@/server/dicom/pseudonyms-prisma";
import { deriveKey, open, seal } from "@/lib/crypto/secret-box";
import { rekeyPatientHashes } from "@/server/deid/patient-keys";

/** The additional data server/secrets binds a project's patient-key secret to. */
const slotOf = (projectId: string) => `atrium:DeidProject:${projectId}:patientKeySecretSealed`;
const sealKey = deriveKey("patient-key-test-secret-key");
const sealer = { seal: (s: string, projectId: string) => seal(s, sealKey, slotOf(projectId)), open: (s: string, projectId: string) => open(s, sealKey, slotOf(projectId)) };
/** The unkeyed hash as main computed (and stored) it. */
const unkeyed = (projectId: string, key: string) => createHash("sha256").update(projectId).update("\0").update(key).digest("hex");

let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase();
  process.env.ATRIUM_SECRET_KEY = "patient-key-test-secret-key";
});
afterAll(async () => {
  delete process.env.ATRIUM_SECRET_KEY;
  await db?.drop();
});

describe("the stored patient hash", () => {
  it("cannot be recomputed from the Patient ID without the project's sealed secret", async () => {
    const store = new PrismaPseudonymStore(db.prisma, sealer);
    await store.subject("KEYED", "id:MRN0012345");
    const [row] = await db.prisma.deidSubject.findMany({ where: { projectId: "KEYED" } });
    // A brute force over MRNs with the unkeyed hash finds nothing…
    expect(row!.patientKeyHash).not.toBe(unkeyed("KEYED", "id:MRN0012345"));
    // …the value is the HMAC with the project's secret, which the table holds only sealed.
    const project = await db.prisma.deidProject.findUniqueOrThrow({ where: { projectId: "KEYED" } });
    expect(project.patientKeySecretSealed).toMatch(/^v2\./);
    const secret = Buffer.from(sealer.open(project.patientKeySecretSealed!, "KEYED"), "hex");
    expect(secret).toHaveLength(32);
    expect(project.patientKeySecretSealed).not.toContain(secret.toString("hex"));
    expect(row!.patientKeyHash).toBe(createHmac("sha256", secret).update(unkeyed("KEYED", "id:MRN0012345")).digest("hex"));
    expect(row!.keyed).toBe(true);
    // The same patient finds the same subject; another project has another secret.
    expect(await new PrismaPseudonymStore(db.prisma, sealer).subject("KEYED", "id:MRN0012345")).toEqual(await store.subject("KEYED", "id:MRN0012345"));
    await store.subject("KEYED2", "id:MRN0012345");
    const other = await db.prisma.deidSubject.findFirstOrThrow({ where: { projectId: "KEYED2" } });
    expect(other.patientKeyHash).not.toBe(row!.patientKeyHash);
  });

  it("a secret sealed under another ATRIUM_SECRET_KEY is refused with the reason, not silently replaced", async () => {
    const otherKey = deriveKey("a-different-secret-key-0000");
    const wrong = new PrismaPseudonymStore(db.prisma, { seal: (s, projectId) => seal(s, otherKey, slotOf(projectId)), open: (s, projectId) => open(s, otherKey, slotOf(projectId)) });
    await expect(wrong.subject("KEYED", "id:MRN0012345")).rejects.toThrow(/ATRIUM_SECRET_KEY/);
  });

  it("lookup-table subjects are stored keyed too", async () => {
    const store = new PrismaPseudonymStore(db.prisma, sealer);
    await store.configure("LOOKUP", { mode: "lookup" });
    await store.importLookup("LOOKUP", new Map([["MRN777", "L-1"]]));
    const row = await db.prisma.deidSubject.findFirstOrThrow({ where: { projectId: "LOOKUP" } });
    expect(row.patientKeyHash).not.toBe(unkeyed("LOOKUP", "id:MRN777"));
    expect((await store.subject("LOOKUP", "id:MRN777")).pseudonym).toBe("L-1");
  });
});

describe("the migration's data step", () => {
  /** Rows as main wrote them: the bare SHA-256, no project secret. */
  async function legacyProject(projectId: string, patients: string[]) {
    await db.prisma.deidProject.create({ data: { projectId, uidSalt: randomBytes(32).toString("hex"), nextSeq: patients.length + 1 } });
    for (const [i, p] of patients.entries()) {
      await db.prisma.$executeRaw`
        INSERT INTO "DeidSubject" ("id","projectId","patientKeyHash","pseudonym","seq","dateOffsetDays","source")
        VALUES (${randomBytes(12).toString("hex")}, ${projectId}, ${unkeyed(projectId, `id:${p}`)}, ${`SUBJ-000${i + 1}`}, ${i + 1}, ${-100 - i}, 'pattern')`;
    }
  }

  it("re-keys existing rows so that each patient keeps its pseudonym and date offset", async () => {
    await legacyProject("OLD1", ["MRN1", "MRN2", "MRN3"]);
    await legacyProject("OLD2", ["MRN1"]);
    const before = await db.prisma.deidSubject.findMany({ where: { projectId: { in: ["OLD1", "OLD2"] } }, orderBy: { pseudonym: "asc" } });
    expect(before.every((r) => !r.keyed)).toBe(true);

    expect(await rekeyPatientHashes(db.prisma)).toBeGreaterThanOrEqual(2);
    const after = await db.prisma.deidSubject.findMany({ where: { projectId: { in: ["OLD1", "OLD2"] } }, orderBy: { pseudonym: "asc" } });
    expect(after.every((r) => r.keyed)).toBe(true);
    for (const r of after) expect(before.find((b) => b.id === r.id)!.patientKeyHash).not.toBe(r.patientKeyHash);
    expect(await rekeyPatientHashes(db.prisma), "nothing left to do the second time").toBe(0);

    const store = new PrismaPseudonymStore(db.prisma, sealer);
    expect(await store.subject("OLD1", "id:MRN2")).toEqual({ pseudonym: "SUBJ-0002", dateOffsetDays: -101 });
    expect(await store.subject("OLD2", "id:MRN1")).toEqual({ pseudonym: "SUBJ-0001", dateOffsetDays: -100 });
    expect((await store.subject("OLD1", "id:MRN9")).pseudonym, "a new patient gets the next number").toBe("SUBJ-0004");
    expect(await db.prisma.deidSubject.count({ where: { projectId: "OLD1" } })).toBe(4);
  });

  it("a project not re-keyed at start (no key then) is re-keyed on its first use, before any lookup", async () => {
    await legacyProject("OLD3", ["MRN5"]);
    const store = new PrismaPseudonymStore(db.prisma, sealer);
    expect(await store.subject("OLD3", "id:MRN5")).toEqual({ pseudonym: "SUBJ-0001", dateOffsetDays: -100 });
    expect(await db.prisma.deidSubject.count({ where: { projectId: "OLD3", keyed: false } })).toBe(0);
    // A row an older worker wrote after keying (during an upgrade) is re-keyed by the next process's first use.
    await db.prisma.$executeRaw`
      INSERT INTO "DeidSubject" ("id","projectId","patientKeyHash","pseudonym","seq","dateOffsetDays","source")
      VALUES ('legacy-late', 'OLD3', ${unkeyed("OLD3", "id:MRN6")}, 'SUBJ-0002', 2, -50, 'pattern')`;
    expect(await new PrismaPseudonymStore(db.prisma, sealer).subject("OLD3", "id:MRN6")).toEqual({ pseudonym: "SUBJ-0002", dateOffsetDays: -50 });
    // …and one it wrote for a patient that already has a keyed row is set aside, not a blocking clash.
    await db.prisma.$executeRaw`
      INSERT INTO "DeidSubject" ("id","projectId","patientKeyHash","pseudonym","seq","dateOffsetDays","source")
      VALUES ('legacy-dup', 'OLD3', ${unkeyed("OLD3", "id:MRN5")}, 'SUBJ-0003', 3, -60, 'pattern')`;
    expect(await new PrismaPseudonymStore(db.prisma, sealer).subject("OLD3", "id:MRN5")).toEqual({ pseudonym: "SUBJ-0001", dateOffsetDays: -100 });
    expect(await db.prisma.deidSubject.findUniqueOrThrow({ where: { id: "legacy-dup" } })).toMatchObject({ keyed: true, patientKeyHash: "superseded:legacy-dup", pseudonym: "SUBJ-0003" });
  });
});
