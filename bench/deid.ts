// Benchmark: de-identification throughput over a >=100 MB corpus built from the shared samples
// (copies with new UIDs in a temp dir). Prints files/s, MB/s and peak RSS for: Atrium deid with
// the Basic profile (1 job, and --jobs 2), a naive dcmjs read-modify-write, and plain Node
// read+write (the ceiling). Each mode runs in its own process so its peak RSS is its own.
//   npx tsx bench/deid.ts [--mb 100]
import { SAMPLES_DIR } from "../lib/samples";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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
    files.forEach((f, i) => {
      const b = readFileSync(f);
      bytes += b.length;
      try {
        const d = dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
        d.dict["00100010"] = { vr: "PN", Value: [{ Alphabetic: "ANON" }] };
        d.dict["00100020"] = { vr: "LO", Value: ["ANON"] };
        writeFileSync(path.join(out, `${i}.dcm`), Buffer.from(d.write({ allowInvalidVRLength: true })));
      } catch {
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
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ mode: m, files: files.length, bytes, secs, errors, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
}

async function buildCorpus(dir: string, targetMB: number): Promise<void> {
  const { parseDicom, findElement } = await import("../lib/dicom/parse");
  const { BufferSource } = await import("../lib/dicom/source");
  const { encodeFile, encodedToBuffer } = await import("../lib/dicom/write");
  const { deidentify } = await import("../lib/dicom/deid");
  const { MemoryPseudonymStore } = await import("../lib/dicom/pseudonyms");
  const dcmjs = (await import("dcmjs")).default;
  dcmjs.log.setLevel("silent");
  const samples = SAMPLES_DIR;
  // Use the samples all three contenders can process (dcmjs fails on some; see the report).
  const usable: Buffer[] = [];
  for (const f of readdirSync(samples).filter((x) => x.endsWith(".dcm"))) {
    const b = readFileSync(path.join(samples, f));
    const o = await deidentify(b, { projectId: "probe", store: new MemoryPseudonymStore() });
    if (o.kind !== "deidentified") continue;
    try {
      dcmjs.data.DicomMessage.readFile(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)).write({ allowInvalidVRLength: true });
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
  const mb = Number(args[args.indexOf("--mb") + 1]) || 100;
  const work = mkdtempSync(path.join(tmpdir(), "atrium-bench-deid-"));
  const corpus = path.join(work, "corpus");
  await buildCorpus(corpus, mb);
  const rows: { name: string; files: number; bytes: number; secs: number; errors: number; maxRssMB: number }[] = [];
  const child = (m: string, name: string) => {
    const out = path.join(work, `out-${m}`);
    const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--mode", m, "--dir", corpus, "--out", out], { cwd: root, encoding: "utf8" });
    const line = r.stdout.trim().split("\n").pop()!;
    rows.push({ name, ...JSON.parse(line) });
    rmSync(out, { recursive: true, force: true });
  };
  child("plain", "plain Node read+write (ceiling)");
  child("dcmjs", "naive dcmjs read-modify-write");
  child("atrium", "atrium deid, Basic profile, 1 job");
  // --jobs 2 through the real command; peak RSS of the whole process tree via /usr/bin/time.
  {
    const out = path.join(work, "out-jobs2");
    const t0 = process.hrtime.bigint();
    const r = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, path.join(root, "bin", "atrium.mjs"), "deid", "--in", corpus, "--out", out, "--jobs", "2"], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, ATRIUM_LOG_LEVEL: "error" },
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const rssKB = Number(r.stderr.trim().split("\n").pop());
    const files = listFiles(corpus);
    const bytes = files.reduce((a, f) => a + statSync(f).size, 0);
    rows.push({ name: "atrium deid --jobs 2 (CLI, incl. startup)", files: files.length, bytes, secs, errors: r.status === 0 ? 0 : -1, maxRssMB: rssKB / 1024 });
    rmSync(out, { recursive: true, force: true });
  }
  const base = rows.find((r) => r.name.startsWith("naive"))!;
  console.log(`\n${"mode".padEnd(44)} ${"files".padStart(6)} ${"files/s".padStart(9)} ${"MB/s".padStart(8)} ${"peak RSS MB".padStart(12)} ${"vs dcmjs".padStart(9)} errors`);
  for (const r of rows) {
    const fps = r.files / r.secs;
    console.log(
      `${r.name.padEnd(44)} ${String(r.files).padStart(6)} ${fps.toFixed(1).padStart(9)} ${(r.bytes / 1048576 / r.secs).toFixed(1).padStart(8)} ${r.maxRssMB.toFixed(0).padStart(12)} ${(base.secs / r.secs).toFixed(2).padStart(8)}x ${r.errors}`,
    );
  }
  rmSync(work, { recursive: true, force: true });
  void execFileSync;
}
