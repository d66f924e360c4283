// The same migrations build the same schema on an empty PostgreSQL and on the embedded PGlite.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { PGlite } from "@electric-sql/pglite";
import { migrate, readMigrations, type SqlRunner } from "@/lib/db/migrate";
import { openDb } from "@/server/db";
import { adminUrl, databaseUrl, TEST_DB_PREFIX } from "../helpers/pg";

const COLUMNS_SQL = `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
  WHERE table_schema = 'public' ORDER BY table_name, column_name`;

function pgRunner(client: pg.Client): SqlRunner {
  return {
    query: async (sql, params) => (await client.query(sql, params as unknown[])).rows,
    exec: async (sql) => {
      await client.query(sql);
    },
  };
}

function pgliteRunner(db: PGlite): SqlRunner {
  return {
    query: async (sql, params) => (await db.query(sql, params as unknown[])).rows as never[],
    exec: async (sql) => {
      await db.exec(sql);
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function emptyPostgres() {
  const name = `${TEST_DB_PREFIX}mig_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const client = new pg.Client({ connectionString: databaseUrl(name) });
  await client.connect();
  cleanups.push(async () => {
    await client.end();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  });
  return { name, client };
}

describe("migrations", () => {
  const all = readMigrations();

  it("apply to an empty PostgreSQL once, and a second run applies nothing", async () => {
    const { client } = await emptyPostgres();
    const first = await migrate(pgRunner(client));
    expect(first.applied).toEqual(all.map((m) => m.name));
    const second = await migrate(pgRunner(client));
    expect(second).toEqual({ applied: [], alreadyApplied: all.length });
    const tables = (await client.query(`SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1`)).rows.map((r) => r.tablename);
    expect(tables).toEqual(expect.arrayContaining(["User", "Session", "Account", "Project", "ProjectMember", "ProjectInvitation", "AuditEvent", "_prisma_migrations"]));
  });

  it("build the identical schema on PGlite (on disk, reopened) as on PostgreSQL", async () => {
    const { client } = await emptyPostgres();
    await migrate(pgRunner(client));
    const dir = mkdtempSync(path.join(os.tmpdir(), "atrium-pglite-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const lite = new PGlite(dir);
    const result = await migrate(pgliteRunner(lite));
    expect(result.applied).toEqual(all.map((m) => m.name));
    const liteCols = (await lite.query(COLUMNS_SQL)).rows;
    await lite.close();
    const pgCols = (await client.query(COLUMNS_SQL)).rows;
    expect(liteCols).toEqual(pgCols);
    // Reopened from disk, nothing is pending.
    const again = new PGlite(dir);
    expect(await migrate(pgliteRunner(again))).toEqual({ applied: [], alreadyApplied: all.length });
    await again.close();
  });

  it("the app's database handle works on the migrated PGlite (Prisma through the PGlite adapter)", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "atrium-data-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const prev = process.env.ATRIUM_DATA_DIR;
    process.env.ATRIUM_DATA_DIR = dir;
    try {
      const handle = await openDb(undefined);
      expect(handle.kind).toBe("pglite");
      await migrate(handle.sql);
      const user = await handle.prisma.user.create({ data: { email: "lite@atrium.test" } });
      await handle.prisma.project.create({
        data: { id: "LITE", idLower: "lite", name: "On PGlite", members: { create: { userId: user.id, role: "owner" } } },
      });
      const loaded = await handle.prisma.project.findUniqueOrThrow({ where: { id: "LITE" }, include: { members: true } });
      expect(loaded.members.map((m) => m.role)).toEqual(["owner"]);
      await handle.close();
    } finally {
      process.env.ATRIUM_DATA_DIR = prev;
    }
  });

  it("refuse a migration that was edited after it was applied, with what to do", async () => {
    const { client } = await emptyPostgres();
    await migrate(pgRunner(client));
    const edited = all.map((m, i) => (i === 0 ? { ...m, checksum: "0".repeat(64) } : m));
    await expect(migrate(pgRunner(client), edited)).rejects.toThrow(/was changed after it was applied.*add a new migration instead/);
  });

  it("a failing migration is rolled back and not recorded", async () => {
    const { client } = await emptyPostgres();
    await migrate(pgRunner(client));
    const broken = [...all, { name: "29990101000000_broken", sql: `CREATE TABLE "Half" (id int); SELECT * FROM no_such_table;`, checksum: "f".repeat(64) }];
    await expect(migrate(pgRunner(client), broken)).rejects.toThrow(/29990101000000_broken failed/);
    const half = await client.query(`SELECT to_regclass('public."Half"') AS t`);
    expect(half.rows[0].t).toBeNull();
    const recorded = await client.query(`SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE migration_name = '29990101000000_broken'`);
    expect(recorded.rows[0].n).toBe(0);
  });
});
