// Prisma CLI configuration. The CLI runs its wasm schema engine through a driver adapter,
// because the native engine binaries cannot be downloaded here (see shared/reference/dependencies.md §2).
// The app itself applies migrations with lib/db/migrate.ts; this file serves `prisma migrate dev`
// (authoring migrations against the real PostgreSQL) and `prisma generate`.
import { defineConfig } from "prisma/config";

// The schema's datasource url must be present and look like PostgreSQL, or the CLI tries to
// download a native query engine; the adapter below is what is really used.
process.env.DATABASE_URL ??= "postgresql://postgres@127.0.0.1:5432/atrium_dev";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";

// prisma/orm#27403: adapter-pg cannot map the catalog types `name` (oid 19) and `"char"` (oid 18)
// that the wasm schema engine reads.
function patchResult(r: any) {
  for (const f of r?.fields ?? []) if (f.dataTypeID === 19 || f.dataTypeID === 18) f.dataTypeID = 25;
  return r;
}
const proto: any = pg.Client.prototype;
if (!proto.__atriumNameFix) {
  const orig = proto.query;
  proto.query = function (...args: any[]) {
    const last = args[args.length - 1];
    if (typeof last === "function") return orig.call(this, ...args.slice(0, -1), (e: any, r: any) => last(e, patchResult(r)));
    const res = orig.apply(this, args);
    return res && typeof res.then === "function" ? res.then(patchResult) : res;
  };
  proto.__atriumNameFix = true;
}

function pgConfig(url: string): pg.PoolConfig {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
  };
}

// adapter-pg's connectToShadowDb reuses the main database when given a connection string;
// manage the shadow database ourselves.
function pgFactory(url: string) {
  const cfg = pgConfig(url);
  const base = new PrismaPg(cfg);
  return {
    provider: "postgres" as const,
    adapterName: base.adapterName,
    connect: () => base.connect(),
    connectToShadowDb: async () => {
      const name = `prisma_shadow_${Date.now()}_${process.pid}`;
      const admin = new pg.Client(cfg);
      await admin.connect();
      await admin.query(`CREATE DATABASE "${name}"`);
      await admin.end();
      const adapter: any = await new PrismaPg({ ...cfg, database: name }).connect();
      const dispose = adapter.dispose.bind(adapter);
      adapter.dispose = async () => {
        await dispose();
        const a2 = new pg.Client(cfg);
        await a2.connect();
        await a2.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await a2.end();
      };
      return adapter;
    },
  };
}

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema",
  migrations: { path: "prisma/migrations" },
  adapter: async () => pgFactory(process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/atrium_dev"),
});
