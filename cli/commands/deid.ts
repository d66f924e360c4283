// atrium deid --in DIR --out DIR [--profile basic[+option…]|FILE] [--script ctp.xml]
//   [--lookup table.csv] [--pixel-script rules.txt] [--project ID] [--pattern PRJ-{0000}] [--jobs N]
import { parseArgs } from "node:util";
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { buildConfig, processFile, type BatchSpec, type FileResult } from "@/lib/dicom/batch";
import { DEFAULT_SETTINGS, LookupMissError, MemoryPseudonymStore, parseLookupCsv } from "@/lib/dicom/pseudonyms";
import { childLog } from "@/lib/log";

export const summary = "De-identify a tree of DICOM files (PS3.15 profile or CTP script) into OUT/<pseudonym>/<study>/<series>/<sop>.dcm";

const HELP = `Usage: atrium deid --in DIR --out DIR [options]
  --profile basic[+option…]|FILE  PS3.15 Basic profile with options (default: basic), e.g.
                                  basic+retainLongitudinalModifiedDates+cleanDescriptors
  --script FILE                   a CTP DicomAnonymizer script (XML or properties) instead of a profile
  --lookup FILE                   CSV "PatientID,pseudonym" (or a CTP .properties table with --script)
  --lookup-only                   quarantine patients that are not in the lookup table
  --pixel-script FILE             pixel blanking rules (CTP DicomPixelAnonymizer format)
  --burned-in flag|quarantine|ignore  what to do with likely burned-in annotation (default flag)
  --project ID                    project id (default: cli)
  --pattern PATTERN               pseudonym pattern (default ${DEFAULT_SETTINGS.pattern})
  --jobs N                        worker threads (default 1)
Exit code: 0 when every file was de-identified or skipped; 1 when any was quarantined; 2 on usage errors.`;

function walk(dir: string, out: string[], exclude: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (path.resolve(p) === exclude) continue;
    if (e.isDirectory()) walk(p, out, exclude);
    else if (e.isFile()) out.push(p);
  }
}

export async function run(args: string[]): Promise<number> {
  const log = childLog("deid-cli");
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
        "burned-in": { type: "string" },
        project: { type: "string" },
        pattern: { type: "string" },
        jobs: { type: "string" },
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
  const jobs = Math.max(1, Number(v.jobs ?? 1) || 1);
  const outDir = path.resolve(v.out);
  const spec: BatchSpec = {
    projectId: v.project ?? "cli",
    profile: v.profile,
    scriptFile: v.script,
    lookupFile: v.lookup,
    pixelScriptFile: v["pixel-script"],
    pattern: v.pattern,
    salt: randomBytes(32).toString("hex"),
    burnedIn: (v["burned-in"] as BatchSpec["burnedIn"]) ?? "flag",
  };
  const lookup = v.lookup && !/\.properties$/i.test(v.lookup) ? parseLookupCsv(readFileSync(v.lookup, "utf8")) : undefined;
  const store = new MemoryPseudonymStore(
    { ...DEFAULT_SETTINGS, pattern: v.pattern ?? DEFAULT_SETTINGS.pattern, mode: v["lookup-only"] ? "lookup" : "pattern" },
    lookup,
    spec.salt,
  );
  let cfg;
  try {
    cfg = buildConfig(spec, store);
  } catch (e) {
    console.error(`atrium deid: ${(e as Error).message}`);
    return 2;
  }
  const files: string[] = [];
  if (!statSync(v.in).isDirectory()) {
    console.error("atrium deid: --in must be a directory");
    return 2;
  }
  walk(path.resolve(v.in), files, outDir);
  files.sort();
  mkdirSync(outDir, { recursive: true });
  const reasonsPath = path.join(outDir, "quarantine", "reasons.tsv");

  const t0 = process.hrtime.bigint();
  const counts = { deidentified: 0, skipped: 0, quarantined: 0, flagged: 0, bytes: 0 };
  const byCode = new Map<string, number>();
  let done = 0;
  let lastDraw = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < 200) return;
    lastDraw = now;
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stderr.write(
      `\r[deid] ${done}/${files.length} files  ${(done / Math.max(secs, 1e-3)).toFixed(1)} files/s  ${(counts.bytes / 1048576 / Math.max(secs, 1e-3)).toFixed(1)} MB/s  quarantined ${counts.quarantined}   `,
    );
  };
  const record = (r: FileResult) => {
    done++;
    counts.bytes += r.bytes;
    counts[r.kind]++;
    if (r.flags?.length) counts.flagged++;
    if (r.kind === "quarantined") {
      byCode.set(r.code ?? "?", (byCode.get(r.code ?? "?") ?? 0) + 1);
      mkdirSync(path.dirname(reasonsPath), { recursive: true });
      try {
        statSync(reasonsPath);
      } catch {
        writeFileSync(reasonsPath, "quarantine_id\tcode\telement_path\treason\n");
      }
      const clean = (s?: string) => (s ?? "").replace(/[\t\r\n]+/g, " ");
      appendFileSync(reasonsPath, `${r.quarantineId}\t${clean(r.code)}\t${clean(r.elementPath)}\t${clean(r.reason)}\n`);
    }
    draw();
  };

  if (jobs === 1) {
    for (const f of files) record(await processFile(f, outDir, cfg));
  } else {
    const workerUrl = new URL("../../lib/dicom/batch-worker.mjs", import.meta.url);
    let nextIndex = 0;
    await new Promise<void>((resolve, reject) => {
      let live = jobs;
      for (let w = 0; w < jobs; w++) {
        const worker = new Worker(fileURLToPath(workerUrl), {
          workerData: { atriumDeidWorker: true, spec, outDir },
        });
        const feed = () => {
          if (nextIndex < files.length) {
            const i = nextIndex++;
            worker.postMessage({ type: "file", file: files[i], index: i });
          } else {
            void worker.terminate();
          }
        };
        worker.on("message", async (m: { type: string; id?: number; projectId?: string; patientKey?: string; result?: FileResult }) => {
          if (m.type === "ready") feed();
          else if (m.type === "result" && m.result) {
            record(m.result);
            feed();
          } else if (m.type === "subject") {
            try {
              worker.postMessage({ type: "subject", id: m.id, ok: await store.subject(m.projectId!, m.patientKey!) });
            } catch (e) {
              worker.postMessage({ type: "subject", id: m.id, lookupMiss: e instanceof LookupMissError, error: "store" });
            }
          }
        });
        worker.on("error", reject);
        worker.on("exit", () => {
          if (--live === 0) resolve();
        });
      }
    });
  }
  draw(true);
  process.stderr.write("\n");
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const lines = [
    `De-identified ${counts.deidentified}, skipped ${counts.skipped}, quarantined ${counts.quarantined} of ${files.length} files in ${secs.toFixed(1)} s`,
    `(${(files.length / Math.max(secs, 1e-3)).toFixed(1)} files/s, ${(counts.bytes / 1048576 / Math.max(secs, 1e-3)).toFixed(1)} MB/s, ${jobs} job${jobs > 1 ? "s" : ""}).`,
  ];
  if (counts.flagged) lines.push(`${counts.flagged} de-identified files are flagged for review (possible burned-in annotation).`);
  if (counts.quarantined) lines.push(`Quarantined by reason: ${[...byCode].map(([c, n]) => `${c} ${n}`).join(", ")}. Details: ${reasonsPath}`);
  console.log(lines.join("\n"));
  log.info({ files: files.length, ...counts, jobs }, "deid batch finished");
  return counts.quarantined > 0 ? 1 : 0;
}
