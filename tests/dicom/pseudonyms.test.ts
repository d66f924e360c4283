// Pseudonym stores: pattern and lookup modes, UID remapping, date offsets, and consistency
// under concurrency against the real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { PrismaPseudonymStore } from "@/server/dicom/pseudonyms-prisma";
import { deriveKey, open, seal } from "@/lib/crypto/secret-box";

const sealKey = deriveKey("pseudonyms-test-secret-key");
const sealer = { seal: (s: string, projectId: string) => seal(s, sealKey, projectId), open: (s: string, projectId: string) => open(s, sealKey, projectId) };
import { formatPseudonym, LookupMissError, MemoryPseudonymStore, parseLookupCsv, deriveUid } from "@/lib/dicom/pseudonyms";
import { deidentify } from "@/lib/dicom/deid";
import { readSample } from "./helpers";

describe("pseudonym helpers", () => {
  it("formats patterns", () => {
    expect(formatPseudonym("PRJ-{0000}", 7)).toBe("PRJ-0007");
    expect(formatPseudonym("S{000000}X", 123)).toBe("S000123X");
    expect(formatPseudonym("P", 3)).toBe("P3");
  });
  it("parses lookup CSV and rejects ambiguous tables", () => {
    const t = parseLookupCsv('PatientID,Pseudonym\n12345,"PRJ-0100"\nABC;PRJ-0101\n');
    expect([...t]).toEqual([["12345", "PRJ-0100"], ["ABC", "PRJ-0101"]]);
    expect(() => parseLookupCsv("a,X\nb,X\n")).toThrow(/same pseudonym/);
    expect(() => parseLookupCsv("a\n")).toThrow(/two columns/);
  });
  it("derives valid, deterministic, salt-dependent UIDs", () => {
    const a = deriveUid("s1", "1.2.3");
    expect(a).toMatch(/^2\.25\.[1-9]\d{30,38}$/);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(deriveUid("s1", "1.2.3")).toBe(a);
    expect(deriveUid("s2", "1.2.3")).not.toBe(a);
  });
});

describe("MemoryPseudonymStore", () => {
  it("gives one pseudonym per patient under concurrent calls", async () => {
    const s = new MemoryPseudonymStore({ mode: "pattern", pattern: "PRJ-{0000}", dateOffsetScope: "subject", dateOffsetRange: [-100, -10] });
    const r = await Promise.all(Array.from({ length: 50 }, (_, i) => s.subject("p", `id:P${i % 5}`)));
    expect(new Set(r.map((x) => x.pseudonym)).size).toBe(5);
    for (const x of r) expect(x.dateOffsetDays).toBeGreaterThanOrEqual(-100);
    expect((await s.subject("p", "id:P0")).pseudonym).toBe(r[0].pseudonym);
    expect((await s.subject("other", "id:P0")).pseudonym).toBe("PRJ-0001");
  });
  it("uses the lookup table and quarantines unknown patients in lookup mode", async () => {
    const s = new MemoryPseudonymStore({ mode: "lookup", pattern: "X{00}", dateOffsetScope: "project", dateOffsetRange: [-5, -5] }, new Map([["77", "TAB-1"]]));
    expect((await s.subject("p", "id:77")).pseudonym).toBe("TAB-1");
    expect((await s.subject("p", "id:77")).dateOffsetDays).toBe(-5);
    await expect(s.subject("p", "id:78")).rejects.toBeInstanceOf(LookupMissError);
    const o = await deidentify(readSample("pydicom__CT_small.dcm"), { projectId: "p", store: s });
    expect(o.kind).toBe("quarantined");
    if (o.kind === "quarantined") expect(o.code).toBe("lookup_miss");
  });
});

describe("PrismaPseudonymStore (PostgreSQL)", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("never hands out two pseudonyms for one patient under concurrency", async () => {
    // Several independent store instances (as separate workers would have) on one database.
    const stores = Array.from({ length: 4 }, () => new PrismaPseudonymStore(db.prisma, sealer));
    await stores[0].configure("proj-a", { pattern: "PRJ-{0000}" });
    const calls = Array.from({ length: 40 }, (_, i) => stores[i % 4].subject("proj-a", `id:PAT${i % 8}`));
    const res = await Promise.all(calls);
    const byPatient = new Map<string, Set<string>>();
    res.forEach((r, i) => {
      const k = `PAT${i % 8}`;
      if (!byPatient.has(k)) byPatient.set(k, new Set());
      byPatient.get(k)!.add(r.pseudonym);
    });
    for (const set of byPatient.values()) expect(set.size).toBe(1);
    const all = [...byPatient.values()].map((s) => [...s][0]).sort();
    expect(all).toEqual(Array.from({ length: 8 }, (_, i) => formatPseudonym("PRJ-{0000}", i + 1)));
    const rows = await db.prisma.deidSubject.count({ where: { projectId: "proj-a" } });
    expect(rows).toBe(8);
    // Raw patient IDs are not stored.
    const subj = await db.prisma.deidSubject.findMany({ where: { projectId: "proj-a" } });
    for (const s of subj) expect(s.patientKeyHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("keeps date offsets and UID maps stable per project, and differing between projects", async () => {
    const s1 = new PrismaPseudonymStore(db.prisma, sealer);
    const s2 = new PrismaPseudonymStore(db.prisma, sealer);
    const a = await s1.subject("proj-b", "id:X");
    const b = await s2.subject("proj-b", "id:X");
    expect(b).toEqual(a);
    const u1 = await s1.mapUids("proj-b", ["1.2.3", "1.2.4"]);
    const u2 = await s2.mapUids("proj-b", ["1.2.3"]);
    expect(u2.get("1.2.3")).toBe(u1.get("1.2.3"));
    expect(u1.get("1.2.3")).not.toBe(u1.get("1.2.4"));
    const other = await s1.mapUids("proj-c", ["1.2.3"]);
    expect(other.get("1.2.3")).not.toBe(u1.get("1.2.3"));
  });

  it("imports a lookup table and enforces lookup mode", async () => {
    const s = new PrismaPseudonymStore(db.prisma, sealer);
    await s.configure("proj-l", { mode: "lookup", dateOffsetScope: "project", dateOffsetRange: [-20, -20] });
    expect(await s.importLookup("proj-l", new Map([["A1", "L-001"], ["A2", "L-002"]]))).toEqual({ added: 2, existing: 0 });
    expect((await s.subject("proj-l", "id:A2")).pseudonym).toBe("L-002");
    expect((await s.subject("proj-l", "id:A2")).dateOffsetDays).toBe(-20);
    await expect(s.subject("proj-l", "id:A3")).rejects.toBeInstanceOf(LookupMissError);
  });
});
