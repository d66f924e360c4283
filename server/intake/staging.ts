// Staged originals are identifying (they are the files as sent). They are kept only while they are
// needed: until the instance is de-identified, found a duplicate or skipped (then deleted at once,
// or after ATRIUM_STAGING_RETENTION_HOURS), and while it waits in quarantine (until a person
// retries, routes or deletes it). The sweep (at worker start and every SWEEP_EVERY_MS from the
// intake-stability job) deletes what is no longer needed: originals of finished instances (also
// those a crash left between the database commit and the delete), files no row refers to (older
// than ORPHAN_AFTER_MS: never acknowledged), `.partial` files and zip upload spools (`*.zip.partial`)
// left by interrupted receives (older than STALE_PARTIAL_MS).
import { readdir, rm, stat } from "node:fs/promises";
import { rmSync } from "node:fs";
import path from "node:path";
import type { PrismaClient } from "@/server/db/generated/client";
import { sqlRows } from "@/server/db";
import { readEnv } from "@/lib/config";
import { childLog } from "@/lib/log";

const log = childLog("staging");

/** Instance statuses whose staged original is no longer needed. */
export const FINISHED_STATUSES = ["deidentified", "duplicate", "skipped"] as const;
/** A staged file no row refers to, older than this, was never acknowledged: deleted. */
export const ORPHAN_AFTER_MS = 24 * 3_600_000;
/** A `.partial` file (staging in progress) or a zip spool not touched for this long was interrupted. */
export const STALE_PARTIAL_MS = 3_600_000;
/** How often the intake-stability job runs the full sweep (it runs every few seconds). */
export const SWEEP_EVERY_MS = 10 * 60_000;
/** The zip upload spool, under staging/ (server/intake/upload). */
export const ZIP_SPOOL_DIR = "upload-zip";

function retentionMs(): number {
  return readEnv().ATRIUM_STAGING_RETENTION_HOURS * 3_600_000;
}

/**
 * After an instance was de-identified, found a duplicate or skipped (its row committed): deletes its
 * staged original, unless a retention period is configured (the sweep deletes it later).
 */
export function releaseStaged(dataDir: string, stagingPath: string): void {
  if (retentionMs() > 0) return;
  try {
    rmSync(path.join(dataDir, stagingPath), { force: true });
  } catch (e) {
    // The sweep retries; the path itself is not logged (it is ours, but keep logs plain).
    log.warn({ code: (e as NodeJS.ErrnoException).code }, "could not delete a staged original; the sweep will");
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

async function ageMs(file: string, now: number): Promise<number | null> {
  try {
    return now - (await stat(file)).mtimeMs;
  } catch {
    return null; // gone meanwhile
  }
}

/** Deletes zip upload spools (`staging/upload-zip/*`) not touched for `olderThanMs`. Returns how many. */
export async function sweepZipSpool(dataDir: string, olderThanMs = STALE_PARTIAL_MS, now = Date.now()): Promise<number> {
  let removed = 0;
  for (const file of await filesUnder(path.join(dataDir, "staging", ZIP_SPOOL_DIR))) {
    const age = await ageMs(file, now);
    if (age !== null && age >= olderThanMs) {
      await rm(file, { force: true });
      removed++;
    }
  }
  if (removed) log.warn({ removed }, "removed zip upload spools left by interrupted uploads");
  return removed;
}

export interface StagingSweep {
  /** Originals of finished instances deleted. */
  finished: number;
  /** Files no row refers to (never acknowledged), and interrupted `.partial` files. */
  orphans: number;
  /** Zip upload spools of interrupted uploads. */
  spools: number;
}

const BATCH = 500;

/** One pass over `<dataDir>/staging`: deletes every staged file that is no longer needed (see the file's head). */
export async function sweepStaging(prisma: PrismaClient, dataDir: string, now = Date.now()): Promise<StagingSweep> {
  const root = path.join(dataDir, "staging");
  const keepFor = retentionMs();
  const out: StagingSweep = { finished: 0, orphans: 0, spools: await sweepZipSpool(dataDir, STALE_PARTIAL_MS, now) };
  const spool = path.join(root, ZIP_SPOOL_DIR) + path.sep;
  const files = (await filesUnder(root)).filter((f) => !f.startsWith(spool));
  for (let i = 0; i < files.length; i += BATCH) {
    const batch = files.slice(i, i + BATCH);
    const rel = batch.map((f) => path.relative(dataDir, f));
    // updatedAt is UTC in a column without time zone (Prisma): its age is computed in SQL.
    const rows = await sqlRows<{ stagingPath: string; status: string; ageMs: number }>(
      prisma,
      `SELECT "stagingPath", status::text AS status,
              (EXTRACT(EPOCH FROM (($2::timestamptz AT TIME ZONE 'UTC') - "updatedAt")) * 1000)::float8 AS "ageMs"
       FROM "ReceivedInstance" WHERE "stagingPath" = ANY($1::text[])`,
      [rel, new Date(now).toISOString()],
    );
    const byPath = new Map<string, { status: string; ageMs: number }[]>();
    for (const r of rows) byPath.set(r.stagingPath, [...(byPath.get(r.stagingPath) ?? []), r]);
    for (const [k, file] of batch.entries()) {
      const refs = byPath.get(rel[k]!);
      if (refs?.length) {
        // Needed while any row using it is not finished (pending, quarantined), and for the retention period.
        const done = refs.every((r) => (FINISHED_STATUSES as readonly string[]).includes(r.status) && Number(r.ageMs) >= keepFor);
        if (done) {
          await rm(file, { force: true });
          out.finished++;
        }
        continue;
      }
      const age = await ageMs(file, now);
      if (age === null) continue;
      if (age >= (file.endsWith(".partial") ? STALE_PARTIAL_MS : ORPHAN_AFTER_MS)) {
        await rm(file, { force: true });
        out.orphans++;
      }
    }
  }
  if (out.finished || out.orphans) log.info({ ...out }, "staging swept");
  return out;
}

let lastSweep = 0;
/** The periodic entry (intake-stability): a full sweep at most every SWEEP_EVERY_MS per process. */
export async function sweepStagingIfDue(prisma: PrismaClient, dataDir: string, now = Date.now()): Promise<StagingSweep | null> {
  if (now - lastSweep < SWEEP_EVERY_MS) return null;
  lastSweep = now;
  return sweepStaging(prisma, dataDir, now);
}
