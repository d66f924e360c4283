// Runs once per `npm test`: creates a template database on the real PostgreSQL with every
// migration applied; each test file clones it (CREATE DATABASE … TEMPLATE), which takes ~100 ms.
import pg from "pg";
import type { TestProject } from "vitest/node";
import { migrate } from "../../lib/db/migrate";
import { adminUrl, databaseUrl, TEST_DB_PREFIX } from "../helpers/pg";
import { buildIsCurrent, buildPortal } from "../../server/launch/build";

export default async function setup(project: TestProject) {
  // Browser and start-up tests run the real production build of the portal.
  // ATRIUM_TEST_NO_BUILD=1 skips it when only unit/integration files are run (never in CI).
  if (process.env.ATRIUM_TEST_NO_BUILD !== "1" && !buildIsCurrent()) buildPortal();
  const template = `${TEST_DB_PREFIX}tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${template}"`);
  const client = new pg.Client({ connectionString: databaseUrl(template) });
  await client.connect();
  await migrate({
    query: async (sql, params) => (await client.query(sql, params as unknown[])).rows,
    exec: async (sql) => {
      await client.query(sql);
    },
  });
  await client.end();
  project.provide("templateDatabase", template);

  return async () => {
    const leftovers = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1`,
      [`${TEST_DB_PREFIX}%${process.pid}%`],
    );
    for (const { datname } of leftovers.rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.end();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}
