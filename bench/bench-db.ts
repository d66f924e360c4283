// A throw-away, migrated PostgreSQL database for a benchmark, beside the test database
// (ATRIUM_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test): `drop()` closes
// it and removes it, so a bench leaves nothing behind even when it fails.
import pg from "pg";
import { openDb } from "../server/db";
import { migrate } from "../lib/db/migrate";

export const BENCH_ADMIN_URL = process.env.ATRIUM_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";

export async function openBenchDatabase(name: string) {
  const dbName = `atrium_bench_${name}_${process.pid}`;
  const admin = new pg.Client({ connectionString: BENCH_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  const url = new URL(BENCH_ADMIN_URL);
  url.pathname = `/${dbName}`;
  const h = await openDb(url.toString());
  await migrate(h.sql);
  return {
    ...h,
    url: url.toString(),
    async drop() {
      await h.close();
      await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** The p-th percentile (0–100) of some timings. */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Runs `f` n times in a row (after `warm` unmeasured runs) and returns each run's milliseconds. */
export async function timeRuns(n: number, f: (i: number) => Promise<unknown>, warm = 0): Promise<number[]> {
  for (let i = 0; i < warm; i++) await f(i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f(i);
    out.push(performance.now() - t0);
  }
  return out;
}

export const fmtPercentiles = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms · p95 ${pct(xs, 95).toFixed(1)} ms`;
