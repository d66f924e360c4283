// Benchmark: de-identification throughput over a >=150 MB corpus (default 300 MB) built from the shared samples
// (copies with new UIDs in a temp dir). In ONE run it prints files/s, MB/s and peak RSS, each with
// its ratio to the dcmjs baseline, for: plain Node read+write (the ceiling), dcmjs applying the
// PS3.15 Basic profile's top-level actions (Table E.1-1: remove X, empty Z, dummy D, new UIDs U,
// private/curve/overlay groups removed; see dcmjsBasicProfile), Atrium with the Basic profile on 1 job, and Atrium with --jobs 2 (the same
// worker pool as the CLI; its startup is included in the figure and also shown on its own), plus
// the whole `atrium deid --jobs 2` command (process start included). Each mode runs in its own
// process so its peak RSS is its own (worker threads share their process's RSS). The load
// average is printed before and after: the machine is shared.
//   npx tsx bench/deid.ts [--mb 300] [--corpus DIR]   (BENCH_DEBUG=1: print why a file failed in the dcmjs mode)
import { SAMPLES_DIR } from "../lib/samples";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const args = process.argv.slice(2);
const mode = args.includes("--mode") ? args[args.indexOf("--mode") + 1] : undefined;

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out.sort();
}

async function runMode(m: string, dir: string, out: string): Promise<void> {
  const files = listFiles(dir);
  mkdirSync(out, { recursive: true });
  let bytes = 0;
  let errors = 0;
  let startupMs: number | undefined;
  let loader: string | undefined;
  const t0 = process.hrtime.bigint();
  if (m === "plain") {
    files.forEach((f, i) => {
      const b = readFileSync(f);
      bytes += b.length;
      writeFileSync(path.join(out, `${i}.dcm`), b);
    });
  } else if (m === "dcmjs") {
    const dcmjs = (await import("dcmjs")).default;
    dcmjs.log.setLevel("silent");
    const deid = await dcmjsBasicProfile(dcmjs);
    files.forEach((f, i) => {
      const b = readFileSync(f);
      bytes += b.length;
      try {
        const d = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
        d.dict = deid(d.dict);
        const o = Buffer.from(d.write({ allowInvalidVRLength: true }));
        if (i === 0) deid.check(o);
        writeFileSync(path.join(out, `${i}.dcm`), o);
      } catch (e) {
        if (e instanceof BaselineCheckError) throw e;
        if (process.env.BENCH_DEBUG) console.error(f, (e as Error).stack?.split("\n").slice(0, 4).join(" | "));
        errors++;
      }
    });
  } else if (m === "atrium") {
    const { processFile, buildConfig } = await import("../lib/dicom/batch");
    const { MemoryPseudonymStore } = await import("../lib/dicom/pseudonyms");
    const cfg = buildConfig({ projectId: "bench", salt: "bench" }, new MemoryPseudonymStore(undefined, undefined, "bench"));
    for (const f of files) {
      const r = await processFile(f, out, cfg);
      bytes += r.bytes;
      if (r.kind !== "deidentified") errors++;
    }
  } else if (m === "atrium2") {
    const { startPool } = await import("../lib/dicom/pool");
    const { MemoryPseudonymStore } = await import("../lib/dicom/pseudonyms");
    const { processFile, buildConfig } = await import("../lib/dicom/batch");
    const store = new MemoryPseudonymStore(undefined, undefined, "bench");
    const claimed = new Set<string>();
    const claim = (r: string) => !claimed.has(r) && !!claimed.add(r);
    // As `atrium deid --jobs 2`: the main thread and one worker thread.
    const spec = { projectId: "bench", salt: "bench" };
    const pool = await startPool(1, spec, out, { subject: (p, k) => store.subject(p, k), claim });
    startupMs = pool.startupMs;
    loader = pool.loader;
    const cfg = buildConfig(spec, store);
    await pool.run(
      files,
      (r) => {
        bytes += r.bytes;
        if (r.kind !== "deidentified") errors++;
      },
      (f) => processFile(f, out, cfg, claim),
    );
    await pool.close();
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ mode: m, files: files.length, bytes, secs, errors, startupMs, loader, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
}

class BaselineCheckError extends Error {}

/**
 * The dcmjs baseline: the PS3.15 Basic Application Level Confidentiality Profile's actions from
 * Table E.1-1 (lib/dicom/ps315-table-e1-1.json, compound codes resolved as Atrium does), applied
 * at the top level of a dcmjs naturalized dataset, the way a dcmjs user would write it: private
 * elements, curves (50xx) and overlay data/comments (60xx,3000/4000) removed on the raw dictionary,
 * then X removed, Z emptied, D replaced by a dummy value of its VR, U replaced by a new UID
 * (2.25.<random>, the same old UID → the same new one across the run), and Patient Identity
 * Removed set. Sequence items are not visited (Atrium's engine does: this baseline does less work).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- dcmjs ships no types (lib/dicom/dcmjs.d.ts)
async function dcmjsBasicProfile(dcmjs: any) {
  const { compileProfile } = await import("../lib/dicom/profile");
  const { randomBytes } = await import("node:crypto");
  const D = dcmjs.data.DicomMetaDictionary;
  const profile = compileProfile([]);
  const hex = (t: number) => t.toString(16).toUpperCase().padStart(8, "0");
  // keyword (or hex key, for what dcmjs cannot name) → action and VR
  const rules: Array<{ key: string; action: string; vr: string }> = [];
  for (const [tag, action] of profile.actions) {
    if (action === "K" || action === "C") continue;
    const h = hex(tag);
    const entry = D.dictionary[`(${h.slice(0, 4)},${h.slice(4)})`];
    rules.push({ key: entry?.name ?? h, action, vr: String(entry?.vr ?? "UN").slice(0, 2) });
  }
  const uids = new Map<string, string>();
  const newUid = (old: string) => {
    let u = uids.get(old);
    if (!u) uids.set(old, (u = `2.25.${BigInt(`0x${randomBytes(16).toString("hex")}`)}`));
    return u;
  };
  const dummy = (vr: string): unknown => {
    switch (vr) {
      case "DA": return "19000101";
      case "TM": return "000000";
      case "DT": return "19000101000000";
      case "AS": return "000Y";
      case "IS": case "DS": return "0";
      case "US": case "SS": case "UL": case "SL": case "FL": case "FD": return 0;
      case "SQ": case "OB": case "OW": case "OF": case "OD": case "OL": case "UN": return [];
      default: return "ANONYMOUS"; // PN, LO, SH, LT, ST, UT, UC, CS, AE, UR
    }
  };
  const apply = (dict: Record<string, unknown>) => {
    for (const k of Object.keys(dict)) {
      const g = parseInt(k.slice(0, 4), 16);
      if (g % 2 === 1 || (g >= 0x5000 && g <= 0x50ff) || (g >= 0x6000 && g <= 0x60ff && /(3000|4000)$/.test(k))) delete dict[k];
    }
    const ds = D.naturalizeDataset(dict);
    for (const r of rules) {
      if (!(r.key in ds)) continue;
      if (r.action === "X") delete ds[r.key];
      else if (r.action === "Z") ds[r.key] = [];
      else if (r.action === "D") ds[r.key] = r.vr === "UI" ? newUid(String(ds[r.key])) : dummy(r.vr);
      else if (r.action === "U") ds[r.key] = Array.isArray(ds[r.key]) ? (ds[r.key] as string[]).map(newUid) : newUid(String(ds[r.key]));
    }
    ds.PatientIdentityRemoved = "YES";
    return D.denaturalizeDataset(ds);
  };
  /** Fails the run if the first output still holds what the profile removes or replaces. */
  apply.check = (out: Buffer) => {
    const d = dcmjs.data.DicomMessage.readFile(out.buffer.slice(out.byteOffset, out.byteOffset + out.length));
    const ds = D.naturalizeDataset(d.dict);
    const left = rules.filter((r) => r.action === "X" && r.key in ds).map((r) => r.key);
    const priv = Object.keys(d.dict).filter((k) => parseInt(k.slice(0, 4), 16) % 2 === 1);
    if (left.length || priv.length || ds.PatientIdentityRemoved !== "YES" || (ds.PatientName !== undefined && String(ds.PatientName) !== "ANONYMOUS" && String(ds.PatientName) !== ""))
      throw new BaselineCheckError(`dcmjs baseline left ${[...left, ...priv].join(", ") || "PatientName"} in place`);
  };
  return apply;
}

async function buildCorpus(dir: string, targetMB: number): Promise<void> {
  const { parseDicom, findElement } = await import("../lib/dicom/parse");
  const { BufferSource } = await import("../lib/dicom/source");
  const { encodeFile, encodedToBuffer } = await import("../lib/dicom/write");
  const { deidentify } = await import("../lib/dicom/deid");
  const { MemoryPseudonymStore } = await import("../lib/dicom/pseudonyms");
  const dcmjs = (await import("dcmjs")).default;
  dcmjs.log.setLevel("silent");
  const baseline = await dcmjsBasicProfile(dcmjs);
  const samples = SAMPLES_DIR;
  // Use the samples all three contenders can process (the dcmjs baseline fails on some).
  const usable: Buffer[] = [];
  for (const f of readdirSync(samples).filter((x) => x.endsWith(".dcm"))) {
    const b = readFileSync(path.join(samples, f));
    const o = await deidentify(b, { projectId: "probe", store: new MemoryPseudonymStore() });
    if (o.kind !== "deidentified") continue;
    try {
      const d = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
      d.dict = baseline(d.dict); // dcmjs cannot denaturalize some datasets (null in a multi-valued element)
      d.write({ allowInvalidVRLength: true });
    } catch {
      continue;
    }
    usable.push(b);
  }
  let total = 0;
  let n = 0;
  const uidTags = [0x00080018, 0x0020000d, 0x0020000e];
  while (total < targetMB * 1048576) {
    for (const b of usable) {
      const p = parseDicom(new BufferSource(b));
      for (const t of uidTags) {
        const el = findElement(p.dataset, t);
        if (!el) continue;
        const v = `2.25.${BigInt(n + 1) * 1000003n + BigInt(t)}${n}`;
        el.newValue = Buffer.from(v.length % 2 ? `${v}\0` : v, "latin1");
      }
      const sop = findElement(p.dataset, 0x00080018)!.newValue!.toString("latin1").replace(/\0$/, "");
      const enc = encodeFile(p.dataset, p.syntax, { sopClassUID: "1.2.840.10008.5.1.4.1.1.7", sopInstanceUID: sop }, p.pixelSource);
      const sub = path.join(dir, String(n % 50));
      mkdirSync(sub, { recursive: true });
      const out = encodedToBuffer(enc);
      writeFileSync(path.join(sub, `f${n}.dcm`), out);
      total += out.length;
      n++;
      if (total >= targetMB * 1048576) break;
    }
  }
  console.error(`corpus: ${n} files, ${(total / 1048576).toFixed(1)} MB from ${usable.length} usable samples`);
}

if (mode) {
  await runMode(mode, args[args.indexOf("--dir") + 1], args[args.indexOf("--out") + 1]);
} else {
  const mb = Number(args[args.indexOf("--mb") + 1]) || 300;
  const load0 = loadavg();
  const work = mkdtempSync(path.join(tmpdir(), "atrium-bench-deid-"));
  // --corpus DIR: reuse (and keep) a corpus built by an earlier run.
  const given = args.includes("--corpus") ? args[args.indexOf("--corpus") + 1] : undefined;
  const corpus = given ?? path.join(work, "corpus");
  if (!given || !existsSync(corpus)) await buildCorpus(corpus, mb);
  // Build (or find) the cached worker bundle first: a normal run finds it already built.
  const tb = performance.now();
  const { bundledWorker } = await import("../lib/dicom/pool");
  await bundledWorker();
  const bundleMs = performance.now() - tb;
  type Row = { name: string; files: number; bytes: number; secs: number; errors: number; maxRssMB: number; startupMs?: number; loader?: string };
  const rows: Row[] = [];
  const child = (m: string, name: string) => {
    const out = path.join(work, `out-${m}`);
    const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--mode", m, "--dir", corpus, "--out", out], { cwd: root, encoding: "utf8" });
    const line = r.stdout.trim().split("\n").pop()!;
    rows.push({ name, ...JSON.parse(line) });
    rmSync(out, { recursive: true, force: true });
  };
  child("plain", "plain Node read+write (ceiling)");
  child("dcmjs", "dcmjs Basic profile, top level (baseline)");
  child("atrium", "Atrium Basic, 1 job");
  child("atrium2", "Atrium Basic, --jobs 2 (pool startup incl.)");
  // The whole command (process start, tsx, DB-less store, walk, summary); peak RSS via /usr/bin/time.
  {
    const out = path.join(work, "out-cli");
    const t0 = process.hrtime.bigint();
    const r = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, path.join(root, "bin", "atrium.mjs"), "deid", "--in", corpus, "--out", out, "--jobs", "2", "--json"], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, ATRIUM_LOG_LEVEL: "error" },
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const rssKB = Number(r.stderr.trim().split("\n").pop());
    const j = JSON.parse(r.stdout.trim().split("\n").pop()!);
    rows.push({ name: "`atrium deid --jobs 2` (whole command)", files: j.files, bytes: j.bytes, secs, errors: j.files - j.deidentified, maxRssMB: rssKB / 1024, startupMs: j.workerStartupSeconds * 1000 });
    rmSync(out, { recursive: true, force: true });
  }
  const load1 = loadavg();
  const base = rows.find((r) => r.name.startsWith("dcmjs"))!;
  const baseFps = base.files / base.secs;
  console.log(`\ncorpus: ${base.files} files, ${(base.bytes / 1048576).toFixed(1)} MB; ${process.version}; worker bundle ready in ${bundleMs.toFixed(0)} ms`);
  console.log(`load average before: ${load0.map((x) => x.toFixed(2)).join(" ")}; after: ${load1.map((x) => x.toFixed(2)).join(" ")} (2 cores, shared)`);
  console.log(`${"mode".padEnd(44)} ${"files".padStart(6)} ${"secs".padStart(6)} ${"files/s".padStart(8)} ${"MB/s".padStart(7)} ${"peak RSS MB".padStart(11)} ${"vs dcmjs".padStart(8)}  errors  notes`);
  for (const r of rows) {
    const fps = r.files / r.secs;
    const notes = r.startupMs !== undefined ? `worker startup ${r.startupMs.toFixed(0)} ms${r.loader ? ` (${r.loader})` : ""}` : "";
    console.log(
      `${r.name.padEnd(44)} ${String(r.files).padStart(6)} ${r.secs.toFixed(2).padStart(6)} ${fps.toFixed(1).padStart(8)} ${(r.bytes / 1048576 / r.secs).toFixed(1).padStart(7)} ${r.maxRssMB.toFixed(0).padStart(11)} ${(fps / baseFps).toFixed(2).padStart(7)}x  ${String(r.errors).padStart(6)}  ${notes}`,
    );
  }
  const one = rows.find((r) => r.name.includes("1 job"))!;
  const two = rows.find((r) => r.name.includes("--jobs 2 (pool"))!;
  console.log(`--jobs 2 vs 1 job: ${(one.secs / two.secs).toFixed(2)}x`);
  rmSync(work, { recursive: true, force: true });
  void execFileSync;
  if (given) console.log(`corpus kept in ${given}`);
}
