// atrium deid --in DIR --out DIR [--profile basic[+option…]|FILE] [--script ctp.xml]
//   [--lookup table.csv] [--pixel-script rules.txt] [--project ID] [--pattern PRJ-{0000}] [--jobs N]
import { parseArgs } from "node:util";
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { BatchSpec, FileResult } from "@/lib/dicom/batch";
import { DEFAULT_SETTINGS, MemoryPseudonymStore, parseLookupCsv, type PseudonymStore } from "@/lib/dicom/pseudonyms";
import type { childLog } from "@/lib/log";

export const summary = "De-identify a tree of DICOM files (PS3.15 profile or CTP script) into OUT/<pseudonym>/<study>/<series>/<sop>.dcm";

const HELP = `Usage: atrium deid --in DIR --out DIR [options]
  --profile basic[+option…]|FILE  PS3.15 Basic profile with options (default: basic), e.g.
                                  basic+retainLongitudinalModifiedDates+cleanDescriptors
  --script FILE                   a CTP DicomAnonymizer script (XML or properties) instead of a profile
  --lookup FILE                   CSV "PatientID,pseudonym" (or a CTP .properties table with --script)
  --lookup-only                   quarantine patients that are not in the lookup table
  --floor basic[+retain…]         the de-identification floor every output is checked against
                                  (default: basic plus the --profile's options; basic with --script).
                                  An output that keeps a value the floor removes is quarantined.
  --floor-keep NAME[,NAME…]       elements the floor lets through as they are (e.g. PatientAge)
  --floor-keep-private            the floor lets private elements through
  --pixel-script FILE             pixel blanking rules (CTP DicomPixelAnonymizer format)
  --burned-in flag|quarantine|ignore  what to do with likely burned-in annotation (default flag)
  --project ID                    project id; with DATABASE_URL (PostgreSQL) set, pseudonyms, UID
                                  remapping and date offsets are kept in the database and stay the
                                  same across runs. Without it they last for this run only.
  --pattern PATTERN               pseudonym pattern (default ${DEFAULT_SETTINGS.pattern})
  --jobs N                        parallel jobs: the main thread plus N-1 worker threads (default 1)
  --json                          also print the summary as one JSON line on stdout
Output: OUT/<pseudonym>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm. Two inputs with
the same SOP Instance UID: the first is kept, the second is reported as a duplicate (reasons.tsv).
Exit code: 0 when every file was de-identified, skipped or a duplicate; 1 when any was quarantined;
2 on usage errors; 3 when the database cannot be opened; 4 when a worker thread failed.`;

function walk(dir: string, out: string[], exclude: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (path.resolve(p) === exclude) continue;
    if (e.isDirectory()) walk(p, out, exclude);
    else if (e.isFile()) out.push(p);
  }
}

export async function run(args: string[]): Promise<number> {
  // The engine and the logger load here, not at the top: `atrium --help` loads every command's module.
  const log = (await import("@/lib/log")).childLog("deid-cli");
  let v;
  try {
    v = parseArgs({
      args,
      options: {
        in: { type: "string" },
        out: { type: "string" },
        profile: { type: "string" },
        script: { type: "string" },
        lookup: { type: "string" },
        "lookup-only": { type: "boolean" },
        "pixel-script": { type: "string" },
        floor: { type: "string" },
        "floor-keep": { type: "string" },
        "floor-keep-private": { type: "boolean" },
        "burned-in": { type: "string" },
        project: { type: "string" },
        pattern: { type: "string" },
        jobs: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    console.error(`atrium deid: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (!v.in || !v.out) {
    console.error(`atrium deid: --in and --out are required\n\n${HELP}`);
    return 2;
  }
  if (v.profile && v.script) {
    console.error("atrium deid: use either --profile or --script");
    return 2;
  }
  try {
    if (!statSync(v.in).isDirectory()) throw new Error();
  } catch {
    console.error("atrium deid: --in must be a directory");
    return 2;
  }
  const jobs = Math.max(1, Number(v.jobs ?? 1) || 1);
  const outDir = path.resolve(v.out);
  const projectId = v.project ?? "cli";
  const spec: BatchSpec = {
    projectId,
    profile: v.profile,
    scriptFile: v.script,
    lookupFile: v.lookup,
    pixelScriptFile: v["pixel-script"],
    pattern: v.pattern,
    salt: randomBytes(32).toString("hex"),
    burnedIn: (v["burned-in"] as BatchSpec["burnedIn"]) ?? "flag",
    floor: v.floor,
    floorKeep: v["floor-keep"]?.split(",").map((s) => s.trim()).filter(Boolean),
    floorKeepPrivate: v["floor-keep-private"],
  };
  let lookup: Map<string, string> | undefined;
  try {
    lookup = v.lookup && !/\.properties$/i.test(v.lookup) ? parseLookupCsv(readFileSync(v.lookup, "utf8")) : undefined;
  } catch (e) {
    console.error(`atrium deid: ${(e as Error).message}`);
    return 2;
  }

  // The pseudonym store: PostgreSQL (persistent) with --project and DATABASE_URL, else in memory.
  let store: PseudonymStore;
  let closeDb: (() => Promise<void>) | undefined;
  let storeKind: "database" | "memory" = "memory";
  const dbUrl = process.env.DATABASE_URL;
  if (v.project && dbUrl && /^postgres(ql)?:/i.test(dbUrl)) {
    if (!process.env.ATRIUM_SECRET_KEY && !process.env.NEXTAUTH_SECRET) {
      console.error(
        "atrium deid: the pseudonym database keeps patients under a keyed hash whose secret is sealed with ATRIUM_SECRET_KEY; set ATRIUM_SECRET_KEY (the same as the portal's and workers') and run again. Nothing was processed.",
      );
      return 2;
    }
    try {
      const { openAndMigrate } = await import("@/server/launch/database");
      const { PrismaPseudonymStore } = await import("@/server/dicom/pseudonyms-prisma");
      const { handle } = await openAndMigrate();
      closeDb = () => handle.close();
      const { patientKeySecrets } = await import("@/server/secrets");
      const ps = new PrismaPseudonymStore(handle.prisma, patientKeySecrets);
      if (v.pattern || v["lookup-only"]) await ps.configure(projectId, { ...(v.pattern ? { pattern: v.pattern } : {}), ...(v["lookup-only"] ? { mode: "lookup" as const } : {}) });
      if (lookup) await ps.importLookup(projectId, lookup);
      spec.salt = await ps.uidSalt(projectId);
      await ps.patientKey(projectId);
      store = ps;
      storeKind = "database";
    } catch (e) {
      await closeDb?.().catch(() => undefined);
      if ((e as Error).name === "SecretBoxError") {
        console.error(`atrium deid: ${(e as Error).message} Nothing was processed.`);
        return 3;
      }
      console.error(`atrium deid: cannot open the pseudonym database (${(e as { code?: string }).code ?? (e as Error).name}); nothing was processed`);
      return 3;
    }
  } else {
    store = new MemoryPseudonymStore(
      { ...DEFAULT_SETTINGS, pattern: v.pattern ?? DEFAULT_SETTINGS.pattern, mode: v["lookup-only"] ? "lookup" : "pattern" },
      lookup,
      spec.salt,
    );
    const why = !v.project ? "no --project given" : !dbUrl ? "DATABASE_URL is not set" : "DATABASE_URL is not a PostgreSQL URL";
    process.stderr.write(
      `atrium deid: WARNING: pseudonyms, UID remapping and date offsets are NOT kept between runs (${why}).\n` +
        "  Running again, or on more data later, gives the same patients DIFFERENT pseudonyms, UIDs and dates.\n" +
        "  Use --project ID with DATABASE_URL=postgresql://… to keep them.\n",
    );
  }
  try {
    return await runBatch(v.in, outDir, jobs, spec, store, storeKind, !!v.json, log);
  } finally {
    await closeDb?.();
  }
}

async function runBatch(
  inDir: string,
  outDir: string,
  jobs: number,
  spec: BatchSpec,
  store: PseudonymStore,
  storeKind: string,
  json: boolean,
  log: ReturnType<typeof childLog>,
): Promise<number> {
  const [{ buildConfig, processFile }, { startPool }] = await Promise.all([import("@/lib/dicom/batch"), import("@/lib/dicom/pool")]);
  let cfg;
  try {
    cfg = buildConfig(spec, store);
  } catch (e) {
    console.error(`atrium deid: ${(e as Error).message}`);
    return 2;
  }
  const files: string[] = [];
  walk(path.resolve(inDir), files, outDir);
  files.sort();
  mkdirSync(outDir, { recursive: true });
  const reasonsPath = path.join(outDir, "quarantine", "reasons.tsv");

  const t0 = process.hrtime.bigint();
  const counts = { deidentified: 0, skipped: 0, quarantined: 0, duplicate: 0, flagged: 0, bytes: 0 };
  const byCode = new Map<string, number>();
  let done = 0;
  let lastDraw = 0;
  const tty = process.stderr.isTTY;
  const draw = (force = false) => {
    const now = Date.now();
    if (!tty || (!force && now - lastDraw < 200)) return;
    lastDraw = now;
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stderr.write(
      `\r[deid] ${done}/${files.length} files  ${(done / Math.max(secs, 1e-3)).toFixed(1)} files/s  ${(counts.bytes / 1048576 / Math.max(secs, 1e-3)).toFixed(1)} MB/s  quarantined ${counts.quarantined}   `,
    );
  };
  const clean = (s?: string) => (s ?? "").replace(/[\t\r\n]+/g, " ");
  const reasonRow = (cols: string[]) => {
    mkdirSync(path.dirname(reasonsPath), { recursive: true });
    try {
      statSync(reasonsPath);
    } catch {
      writeFileSync(reasonsPath, "quarantine_id\tcode\telement_path\treason\n");
    }
    appendFileSync(reasonsPath, `${cols.map(clean).join("\t")}\n`);
  };
  const record = (r: FileResult) => {
    done++;
    counts.bytes += r.bytes;
    counts[r.kind]++;
    if (r.flags?.length) counts.flagged++;
    if (r.kind === "quarantined") {
      byCode.set(r.code ?? "?", (byCode.get(r.code ?? "?") ?? 0) + 1);
      reasonRow([r.quarantineId ?? "", r.code ?? "", r.elementPath ?? "", r.reason ?? ""]);
    } else if (r.kind === "duplicate") {
      // Not quarantined: the first input with this SOP Instance UID was written to `output`.
      reasonRow(["-", "duplicate", r.output ?? "", "duplicate SOP Instance UID: an earlier input of this run was written to this output path and kept; this one was not written"]);
    }
    draw();
  };
  // Output paths written in this run (a path from an earlier run is overwritten: same pseudonyms).
  const claimed = new Set<string>();
  const claim = (rel: string) => {
    if (claimed.has(rel)) return false;
    claimed.add(rel);
    return true;
  };

  let startupMs = 0;
  let loader = "";
  if (jobs === 1) {
    for (const f of files) record(await processFile(f, outDir, cfg, claim));
  } else {
    // N jobs = the main thread + N-1 worker threads (one isolate less to warm up than N workers).
    const pool = await startPool(jobs - 1, spec, outDir, { subject: (p, k) => store.subject(p, k), claim });
    startupMs = pool.startupMs;
    loader = pool.loader;
    try {
      await pool.run(files, (r) => record(r), (f) => processFile(f, outDir, cfg, claim));
    } catch (e) {
      // A worker died (e.g. out of memory): say so, never report a partial run as complete.
      process.stderr.write(
        `\natrium deid: a worker failed (${(e as Error)?.name ?? "Error"}); ${files.length - done} of ${files.length} files were not processed. Run again (outputs already written are kept).\n`,
      );
      log.error({ files: files.length, done }, "deid worker failed");
      return 4;
    } finally {
      await pool.close();
    }
  }
  draw(true);
  if (tty) process.stderr.write("\n");
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const mb = counts.bytes / 1048576;
  const perSec = (n: number) => (n / Math.max(secs, 1e-3)).toFixed(1);
  const lines = [
    `atrium deid: ${files.length} files (${mb.toFixed(1)} MB) in ${secs.toFixed(1)} s — ${perSec(files.length)} files/s, ${perSec(mb)} MB/s, ${jobs} job${jobs > 1 ? "s" : ""}${jobs > 1 ? ` (worker startup ${(startupMs / 1000).toFixed(2)} s included${loader === "tsx" ? ", slow tsx fallback" : ""})` : ""}`,
    `  de-identified  ${counts.deidentified}${counts.flagged ? ` (${counts.flagged} flagged for review: possible burned-in annotation)` : ""}`,
    `  skipped        ${counts.skipped}`,
    `  quarantined    ${counts.quarantined}${counts.quarantined ? ` — ${[...byCode].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}: ${n}`).join(", ")}` : ""}`,
    `  duplicates     ${counts.duplicate}${counts.duplicate ? " (same SOP Instance UID as an earlier input; first kept, not written)" : ""}`,
    `  pseudonyms     ${storeKind === "database" ? `kept in the database (project ${spec.projectId})` : "this run only (not kept)"}`,
  ];
  if (counts.quarantined || counts.duplicate) lines.push(`  details        ${reasonsPath}`);
  process.stderr.write(`${lines.join("\n")}\n`);
  if (json) {
    console.log(
      JSON.stringify({
        files: files.length,
        deidentified: counts.deidentified,
        skipped: counts.skipped,
        quarantined: counts.quarantined,
        quarantinedByCode: Object.fromEntries(byCode),
        duplicates: counts.duplicate,
        flagged: counts.flagged,
        bytes: counts.bytes,
        seconds: secs,
        filesPerSecond: files.length / Math.max(secs, 1e-3),
        mbPerSecond: mb / Math.max(secs, 1e-3),
        jobs,
        workerStartupSeconds: startupMs / 1000,
        ...(loader ? { workerLoader: loader } : {}),
        pseudonymStore: storeKind,
      }),
    );
  } else log.info({ files: files.length, ...counts, jobs, storeKind }, "deid batch finished");
  return counts.quarantined > 0 ? 1 : 0;
}
