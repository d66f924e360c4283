// The database: PostgreSQL when DATABASE_URL is set, otherwise the embedded PGlite under
// ATRIUM_DATA_DIR. One Prisma client per process, shared through globalThis so that the
// Next.js bundle and the worker code running in the same process use the same connection.
import path from "node:path";
import { mkdirSync } from "node:fs";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client";
import { dataDir, readEnv } from "@/lib/config";
import type { SqlRunner } from "@/lib/db/migrate";
import { childLog } from "@/lib/log";

const log = childLog("db");

export type Db = PrismaClient;

interface DbHandle {
  prisma: PrismaClient;
  sql: SqlRunner;
  kind: "postgres" | "pglite";
  close(): Promise<void>;
}

type DirectQuery = (text: string, params: unknown[], name?: string) => Promise<{ rows: unknown[] }>;
/** One statement inside a transaction: rows back; `preparedName` as for sqlRows. */
export type SqlInTransaction = <T>(text: string, params: unknown[], preparedName?: string) => Promise<T[]>;
interface DirectPool {
  query: DirectQuery;
  transaction<R>(fn: (q: SqlInTransaction) => Promise<R>, first?: string): Promise<R>;
}
const directQueries = new WeakMap<PrismaClient, DirectPool>();

/**
 * Runs one parameterised SQL statement ($1, $2, …) and returns its rows: straight on the pg pool
 * behind a PostgreSQL client, for the statements on intake's hot paths (receive, de-identify),
 * where going through Prisma costs ~0.6 ms of CPU per statement; through Prisma on PGlite, whose
 * single connection is shared with Prisma's transactions. Write SQL both accept; timestamps in
 * UTC (`now() AT TIME ZONE 'UTC'`), as Prisma keeps them. `preparedName` (≤ 63 bytes, one text per
 * name) makes it a named prepared statement on PostgreSQL: parsed and planned once per pool
 * connection — for statements run very often whose generic plan is as good as a custom one.
 */
export async function sqlRows<T>(prisma: PrismaClient, text: string, params: unknown[], preparedName?: string): Promise<T[]> {
  const direct = directQueries.get(prisma);
  if (direct) return (await direct.query(text, params, preparedName)).rows as T[];
  return prisma.$queryRawUnsafe<T[]>(text, ...params);
}

/**
 * Runs `fn`'s statements in one transaction: on one pg pool connection (BEGIN … COMMIT, ROLLBACK
 * when `fn` throws) behind a PostgreSQL client, through Prisma's interactive transaction on PGlite.
 * For hot paths whose transaction is only SQL: Prisma's costs ~1 ms of CPU per statement.
 * `first`, a statement without parameters (values in it as sqlLiteral), runs first: sent with the
 * BEGIN, in one round trip.
 */
export async function sqlTransaction<R>(prisma: PrismaClient, fn: (q: SqlInTransaction) => Promise<R>, first?: string): Promise<R> {
  const direct = directQueries.get(prisma);
  if (direct) return direct.transaction(fn, first);
  return prisma.$transaction(async (tx) => {
    if (first) await tx.$executeRawUnsafe(first);
    return fn(<T,>(text: string, params: unknown[]) => tx.$queryRawUnsafe<T[]>(text, ...params));
  });
}

/** A string as an SQL literal (quotes doubled; with backslashes, an E'' literal), for sqlTransaction's `first`. */
export function sqlLiteral(value: string): string {
  if (value.includes("\0")) throw new Error("An SQL text value cannot hold a NUL character.");
  const quoted = `'${value.replace(/'/g, "''").replace(/\\/g, "\\\\")}'`;
  return value.includes("\\") ? `E${quoted}` : quoted;
}

const globalKey = Symbol.for("atrium.db");
type GlobalWithDb = typeof globalThis & { [globalKey]?: Promise<DbHandle> };

export async function openDb(databaseUrl = readEnv().DATABASE_URL): Promise<DbHandle> {
  if (databaseUrl) {
    const pg = await import("pg");
    const pool = new pg.default.Pool({ connectionString: databaseUrl, max: 10 });
    // An idle connection closed by the server (restart, failover, DROP DATABASE) must not crash the
    // process: the pool drops it and opens a new one on the next query.
    pool.on("error", (e) => log.warn({ code: (e as { code?: string }).code }, "idle database connection closed"));
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    directQueries.set(prisma, {
      async query(text, params, name) {
        if (!name) return pool.query(text, params);
        try {
          return await pool.query({ name, text, values: params });
        } catch (e) {
          // A migration changed a table a prepared statement returns whole ("cached plan must not
          // change result type"): that connection's prepared form is stale; the statement runs unprepared.
          if ((e as { code?: string }).code === "0A000") return pool.query(text, params);
          throw e;
        }
      },
      async transaction(fn, first) {
        const client = await pool.connect();
        let broken: Error | undefined;
        try {
          // With a first statement: both in one simple query (one round trip), run as one transaction's start.
          await client.query(first ? `BEGIN; ${first}` : "BEGIN");
          const result = await fn(async <T,>(text: string, params: unknown[], name?: string) => (await (name ? client.query({ name, text, values: params }) : client.query(text, params))).rows as T[]);
          await client.query("COMMIT");
          return result;
        } catch (e) {
          await client.query("ROLLBACK").catch((r: Error) => (broken = r));
          throw e;
        } finally {
          client.release(broken);
        }
      },
    });
    // Administrative SQL (migrations, advisory locks) runs on one dedicated connection, so that a
    // session-level lock is released on the connection that took it.
    let admin: InstanceType<typeof pg.default.Client> | undefined;
    const adminClient = async () => {
      if (!admin) {
        admin = new pg.default.Client({ connectionString: databaseUrl });
        admin.on("error", (e) => {
          log.warn({ code: (e as { code?: string }).code }, "administrative database connection closed");
          admin = undefined;
        });
        await admin.connect();
      }
      return admin;
    };
    const sql: SqlRunner = {
      query: async (text, params) => (await (await adminClient()).query(text, params as unknown[])).rows,
      exec: async (text) => {
        await (await adminClient()).query(text);
      },
    };
    return {
      prisma,
      sql,
      kind: "postgres",
      close: async () => {
        await prisma.$disconnect();
        await admin?.end().catch(() => undefined);
        await pool.end().catch(() => undefined);
      },
    };
  }
  const dir = path.join(dataDir(), "pgdata");
  mkdirSync(dir, { recursive: true });
  const { PGlite } = await import("@electric-sql/pglite");
  const { PrismaPGlite } = await import("pglite-prisma-adapter");
  const pglite = new PGlite(dir);
  await pglite.waitReady;
  // pglite-prisma-adapter bundles its own copy of driver-adapter-utils; the shapes are the same.
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) as never });
  const sql: SqlRunner = {
    query: async (text, params) => (await pglite.query(text, params as unknown[])).rows as never[],
    exec: async (text) => {
      await pglite.exec(text);
    },
  };
  return {
    prisma,
    sql,
    kind: "pglite",
    close: async () => {
      await prisma.$disconnect();
      if (!pglite.closed) await pglite.close();
    },
  };
}

/** The process-wide database handle. */
export function dbHandle(): Promise<DbHandle> {
  const g = globalThis as GlobalWithDb;
  g[globalKey] ??= openDb();
  return g[globalKey]!;
}

/** Installs a handle (used by the launcher and by tests). */
export function setDbHandle(handle: Promise<DbHandle> | undefined): void {
  (globalThis as GlobalWithDb)[globalKey] = handle;
}

export async function db(): Promise<PrismaClient> {
  return (await dbHandle()).prisma;
}
