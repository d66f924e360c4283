// The real PostgreSQL used by the tests: ATRIUM_TEST_DATABASE_URL names a database the tests may
// use to create and drop their own (default: the local server's `test` database).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { openDb } from "../../server/db";

export const TEST_DB_PREFIX = "atrium_t_";

export function adminUrl(): string {
  return process.env.ATRIUM_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
}

export function databaseUrl(name: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

/** A fresh, migrated database for one test file; `drop()` removes it. */
export async function createTestDatabase() {
  const template = inject("templateDatabase");
  const name = `${template.replace("tpl_", "")}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  await admin.end();
  const url = databaseUrl(name);
  const handle = await openDb(url);
  return {
    url,
    name,
    handle,
    prisma: handle.prisma,
    async drop() {
      await handle.close();
      const a = new pg.Client({ connectionString: adminUrl() });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
}
