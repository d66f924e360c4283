// PostgreSQL-backed PseudonymStore (tables DeidProject, DeidSubject; prisma/schema/deid.prisma).
// Concurrency: a new subject is created inside a transaction that first locks the project row
// (SELECT … FOR UPDATE), re-checks for the subject, then takes the next sequence number. Two
// workers racing on the same patient therefore serialise on the lock and the second one finds
// the first one's row; the unique constraints (projectId, patientKeyHash) and
// (projectId, pseudonym) are the backstop. Existing subjects are read without any lock.
import { randomBytes } from "node:crypto";
import type { PrismaClient } from "@/server/db/generated/client";
import {
  deriveUid,
  formatPseudonym,
  LookupMissError,
  patientKeyHash,
  randomOffset,
  type PseudonymSettings,
  type PseudonymStore,
  type SubjectPseudonym,
} from "./pseudonyms";

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

export class PrismaPseudonymStore implements PseudonymStore {
  private salts = new Map<string, string>();
  constructor(private prisma: PrismaClient) {}

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
        INSERT INTO "DeidSubject" ("id","projectId","patientKeyHash","pseudonym","seq","dateOffsetDays","source")
        VALUES (${randomBytes(12).toString("hex")}, ${projectId}, ${patientKeyHash(projectId, `id:${key}`)}, ${pseudonym}, NULL, ${offset}, 'lookup')
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
    const key = patientKeyHash(projectId, patientKey);
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
        INSERT INTO "DeidSubject" ("id","projectId","patientKeyHash","pseudonym","seq","dateOffsetDays","source")
        VALUES (${randomBytes(12).toString("hex")}, ${projectId}, ${key}, ${pseudonym}, ${seq}, ${dateOffsetDays}, 'pattern')`;
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
