// PostgreSQL-backed PseudonymStore (tables DeidProject, DeidSubject; prisma/schema/deid.prisma).
// Concurrency: a new subject is created inside a transaction that first locks the project row
// (SELECT … FOR UPDATE), re-checks for the subject, then takes the next sequence number. Two
// workers racing on the same patient therefore serialise on the lock and the second one finds
// the first one's row; the unique constraints (projectId, patientKeyHash) and
// (projectId, pseudonym) are the backstop. Existing subjects are read without any lock.
// Patients are stored by keyedPatientHash with the project's secret, which is kept sealed
// (`secrets`: server/secrets in the application) and created on the project's first use, when the
// rows written before keying are re-keyed in the same transaction (patientKey()).
import { randomBytes } from "node:crypto";
import type { PrismaClient } from "@/server/db/generated/client";
import {
  deriveUid,
  formatPseudonym,
  keyedPatientHash,
  LookupMissError,
  patientKeyHash,
  randomOffset,
  type PseudonymSettings,
  type PseudonymStore,
  type SubjectPseudonym,
} from "@/lib/dicom/pseudonyms";

interface ProjectRow {
  projectId: string;
  uidSalt: string;
  mode: string;
  pattern: string;
  nextSeq: number;
  dateOffsetScope: string;
  dateOffsetMin: number;
  dateOffsetMax: number;
  projectOffset: number | null;
}

/** Seals and opens secrets at rest (the application passes server/secrets sealSecret/openSecret). */
export interface SecretSealer {
  /** `projectId` binds the sealed value to its project's row (authenticated, not secret). */
  seal(plaintext: string, projectId: string): string;
  open(sealed: string, projectId: string): string;
}

const REKEY_BATCH = 1000;

export class PrismaPseudonymStore implements PseudonymStore {
  private salts = new Map<string, string>();
  private patientKeys = new Map<string, Buffer>();
  constructor(
    private prisma: PrismaClient,
    private secrets: SecretSealer,
  ) {}

  /**
   * The project's patient-key secret. On the project's first use in this process: creates it if it
   * has none (sealed), and re-keys the rows still holding the bare SHA-256 (keyed = false: written
   * before keying, or by an older worker during an upgrade), all in one transaction with the
   * project row locked, so no lookup sees a half re-keyed project.
   */
  async patientKey(projectId: string): Promise<Buffer> {
    const known = this.patientKeys.get(projectId);
    if (known) return known;
    await this.ensureProject(projectId);
    const secret = await this.prisma.$transaction(
      async (tx) => {
        const [p] = await tx.$queryRaw<{ sealed: string | null }[]>`
          SELECT "patientKeySecretSealed" AS sealed FROM "DeidProject" WHERE "projectId" = ${projectId} FOR UPDATE`;
        let key: Buffer;
        if (p?.sealed) key = Buffer.from(this.secrets.open(p.sealed, projectId), "hex");
        else {
          key = randomBytes(32);
          await tx.$executeRaw`UPDATE "DeidProject" SET "patientKeySecretSealed" = ${this.secrets.seal(key.toString("hex"), projectId)} WHERE "projectId" = ${projectId}`;
        }
        if (key.length !== 32) throw new Error("The project's patient-key secret is malformed.");
        for (;;) {
          const legacy = await tx.$queryRaw<{ id: string; patientKeyHash: string }[]>`
            SELECT "id", "patientKeyHash" FROM "DeidSubject" WHERE "projectId" = ${projectId} AND NOT "keyed" LIMIT ${REKEY_BATCH}`;
          if (!legacy.length) break;
          const ids = legacy.map((r) => r.id);
          let hashes = legacy.map((r) => keyedPatientHash(key, r.patientKeyHash));
          // A patient an older worker added again after the project was keyed (it could not find the
          // keyed row) already has a keyed row: that duplicate keeps its pseudonym but is set aside
          // (no longer found by Patient ID) instead of blocking the project on the unique constraint.
          const clash = new Set(
            (
              await tx.$queryRaw<{ h: string }[]>`
                SELECT "patientKeyHash" AS h FROM "DeidSubject" WHERE "projectId" = ${projectId} AND "keyed" AND "patientKeyHash" = ANY(${hashes}::text[])`
            ).map((r) => r.h),
          );
          if (clash.size) hashes = hashes.map((h, i) => (clash.has(h) ? `superseded:${ids[i]}` : h));
          await tx.$executeRaw`
            UPDATE "DeidSubject" d SET "patientKeyHash" = v.h, "keyed" = true
            FROM unnest(${ids}::text[], ${hashes}::text[]) AS v(id, h) WHERE d."id" = v.id`;
        }
        return key;
      },
      { timeout: 120_000 },
    );
    this.patientKeys.set(projectId, secret);
    return secret;
  }

  /** What the database holds for a patient key of this project. */
  private async storedKey(projectId: string, patientKey: string): Promise<string> {
    return keyedPatientHash(await this.patientKey(projectId), patientKeyHash(projectId, patientKey));
  }

  /** Creates or updates a project's pseudonymisation settings. */
  async configure(projectId: string, s: Partial<PseudonymSettings>): Promise<void> {
    await this.ensureProject(projectId);
    await this.prisma.deidProject.update({
      where: { projectId },
      data: {
        ...(s.mode ? { mode: s.mode } : {}),
        ...(s.pattern ? { pattern: s.pattern } : {}),
        ...(s.dateOffsetScope ? { dateOffsetScope: s.dateOffsetScope } : {}),
        ...(s.dateOffsetRange ? { dateOffsetMin: s.dateOffsetRange[0], dateOffsetMax: s.dateOffsetRange[1] } : {}),
      },
    });
  }

  /** Imports a lookup table (patient key → pseudonym). Existing entries for a key are kept. */
  async importLookup(projectId: string, table: Map<string, string>): Promise<{ added: number; existing: number }> {
    const p = await this.ensureProject(projectId);
    let added = 0;
    let existing = 0;
    for (const [key, pseudonym] of table) {
      const offset = p.dateOffsetScope === "project" ? await this.projectOffset(projectId) : randomOffset([p.dateOffsetMin, p.dateOffsetMax]);
      const n = await this.prisma.$executeRaw`
        INSERT INTO "DeidSubject" ("id","projectId","patientKeyHash","keyed","pseudonym","seq","dateOffsetDays","source")
        VALUES (${randomBytes(12).toString("hex")}, ${projectId}, ${await this.storedKey(projectId, `id:${key}`)}, true, ${pseudonym}, NULL, ${offset}, 'lookup')
        ON CONFLICT DO NOTHING`;
      if (n > 0) added++;
      else existing++;
    }
    return { added, existing };
  }

  private async ensureProject(projectId: string): Promise<ProjectRow> {
    await this.prisma.$executeRaw`
      INSERT INTO "DeidProject" ("projectId","uidSalt") VALUES (${projectId}, ${randomBytes(32).toString("hex")})
      ON CONFLICT ("projectId") DO NOTHING`;
    const rows = await this.prisma.$queryRaw<ProjectRow[]>`SELECT * FROM "DeidProject" WHERE "projectId" = ${projectId}`;
    return rows[0];
  }

  private async projectOffset(projectId: string): Promise<number> {
    const p = await this.ensureProject(projectId);
    if (p.projectOffset !== null) return p.projectOffset;
    const v = randomOffset([p.dateOffsetMin, p.dateOffsetMax]);
    await this.prisma.$executeRaw`UPDATE "DeidProject" SET "projectOffset" = ${v} WHERE "projectId" = ${projectId} AND "projectOffset" IS NULL`;
    return (await this.ensureProject(projectId)).projectOffset ?? v;
  }

  async subject(projectId: string, patientKey: string): Promise<SubjectPseudonym> {
    const key = await this.storedKey(projectId, patientKey);
    const found = await this.prisma.$queryRaw<SubjectPseudonym[]>`
      SELECT "pseudonym", "dateOffsetDays" FROM "DeidSubject" WHERE "projectId" = ${projectId} AND "patientKeyHash" = ${key}`;
    if (found.length) return found[0];
    await this.ensureProject(projectId);
    const projOffset = await this.maybeProjectOffset(projectId);
    return this.prisma.$transaction(async (tx) => {
      const [p] = await tx.$queryRaw<ProjectRow[]>`SELECT * FROM "DeidProject" WHERE "projectId" = ${projectId} FOR UPDATE`;
      const again = await tx.$queryRaw<SubjectPseudonym[]>`
        SELECT "pseudonym", "dateOffsetDays" FROM "DeidSubject" WHERE "projectId" = ${projectId} AND "patientKeyHash" = ${key}`;
      if (again.length) return again[0];
      if (p.mode === "lookup") throw new LookupMissError();
      // Skip sequence numbers whose pseudonym a lookup-table entry already uses.
      let seq = p.nextSeq;
      let pseudonym = formatPseudonym(p.pattern, seq);
      for (;;) {
        const taken = await tx.$queryRaw<{ n: number }[]>`
          SELECT 1 AS n FROM "DeidSubject" WHERE "projectId" = ${projectId} AND "pseudonym" = ${pseudonym}`;
        if (!taken.length) break;
        seq++;
        pseudonym = formatPseudonym(p.pattern, seq);
      }
      const dateOffsetDays = projOffset ?? randomOffset([p.dateOffsetMin, p.dateOffsetMax]);
      await tx.$executeRaw`
        INSERT INTO "DeidSubject" ("id","projectId","patientKeyHash","keyed","pseudonym","seq","dateOffsetDays","source")
        VALUES (${randomBytes(12).toString("hex")}, ${projectId}, ${key}, true, ${pseudonym}, ${seq}, ${dateOffsetDays}, 'pattern')`;
      await tx.$executeRaw`UPDATE "DeidProject" SET "nextSeq" = ${seq + 1} WHERE "projectId" = ${projectId}`;
      return { pseudonym, dateOffsetDays };
    });
  }

  private async maybeProjectOffset(projectId: string): Promise<number | undefined> {
    const [p] = await this.prisma.$queryRaw<ProjectRow[]>`SELECT * FROM "DeidProject" WHERE "projectId" = ${projectId}`;
    return p.dateOffsetScope === "project" ? this.projectOffset(projectId) : undefined;
  }

  /** The project's UID salt (created with the project), for workers that derive UIDs locally. */
  async uidSalt(projectId: string): Promise<string> {
    let salt = this.salts.get(projectId);
    if (!salt) {
      salt = (await this.ensureProject(projectId)).uidSalt;
      this.salts.set(projectId, salt);
    }
    return salt;
  }

  async mapUids(projectId: string, uids: string[]): Promise<Map<string, string>> {
    const salt = await this.uidSalt(projectId);
    const out = new Map<string, string>();
    for (const u of uids) out.set(u, deriveUid(salt, u));
    return out;
  }
}
