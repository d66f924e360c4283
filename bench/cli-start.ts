// Benchmark: how long the `atrium` command takes to start, against `node -e 0` (Node's own start),
// in the same run, several rounds each, median and min. Then `atrium deid` over the shared samples
// as a whole command (process start included) beside the de-identification engine alone (the same
// files in one process that has already loaded the engine, bench/deid.ts --mode atrium).
//   npx tsx bench/cli-start.ts [--rounds 7] [--before /path/to/other/checkout]
// --before times another checkout's bin/atrium.mjs too (e.g. the main branch, for a before/after).
// `atrium status --project` runs against a scratch PostgreSQL database (ATRIUM_TEST_DATABASE_URL's
// server, default postgresql://postgres@127.0.0.1:5432), created, migrated and dropped here.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { SAMPLES_DIR } from "../lib/samples";

const root = path.resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const rounds = Number(opt("--rounds") ?? 7);
const before = opt("--before");
const ATRIUM = path.join(root, "bin", "atrium.mjs");

function timeOnce(cmd: string[], env: Record<string, string> = {}, cwd = root): number {
  const t0 = process.hrtime.bigint();
  // From its own checkout: tsx resolves `@/` through the tsconfig.json of the working directory.
  const r = spawnSync(process.execPath, cmd, { cwd, env: { ...process.env, ...env }, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 && !env.ATRIUM_BENCH_EXPECT_FAIL) throw new Error(`${cmd.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const base = process.env.ATRIUM_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const dbName = `atrium_bench_cli_${process.pid}`;
const admin = new pg.Client({ connectionString: base.replace(/\/[^/]*$/, "/postgres") });
await admin.connect();
await admin.query(`CREATE DATABASE "${dbName}"`);
const DATABASE_URL = base.replace(/\/[^/]*$/, `/${dbName}`);
try {
  const m = spawnSync(process.execPath, [ATRIUM, "migrate"], { cwd: root, env: { ...process.env, DATABASE_URL, ATRIUM_LOG_LEVEL: "warn" }, encoding: "utf8" });
  if (m.status !== 0) throw new Error(`atrium migrate failed: ${m.stderr}`);
  // One run first: compiles the CLI if the sources changed (not part of the figures).
  timeOnce([ATRIUM, "--help"]);

  const cases: { name: string; cmd: string[]; env?: Record<string, string>; cwd?: string }[] = [
    { name: "node -e 0", cmd: ["-e", "0"] },
    { name: "atrium --help", cmd: [ATRIUM, "--help"] },
    { name: "atrium status --help", cmd: [ATRIUM, "status", "--help"] },
    { name: "atrium status --project (PostgreSQL, DB client + queries)", cmd: [ATRIUM, "status", "--project", "NOPE"], env: { DATABASE_URL, ATRIUM_BENCH_EXPECT_FAIL: "1" } },
    { name: "atrium --help, from sources (tsx, warm cache)", cmd: [ATRIUM, "--help"], env: { ATRIUM_CLI_FROM_SOURCE: "1" } },
  ];
  if (before) {
    const b = path.join(path.resolve(before), "bin", "atrium.mjs");
    const cwd = path.resolve(before);
    cases.push({ name: `before: atrium --help (${before})`, cmd: [b, "--help"], cwd });
    cases.push({ name: `before: atrium status --help (${before})`, cmd: [b, "status", "--help"], cwd });
    cases.push({ name: `before: atrium status --project (${before})`, cmd: [b, "status", "--project", "NOPE"], env: { DATABASE_URL, ATRIUM_BENCH_EXPECT_FAIL: "1" }, cwd });
  }
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  console.log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(" ")}; ${rounds} rounds, cases interleaved`);
  for (let r = 0; r < rounds; r++) for (const c of cases) times.get(c.name)!.push(timeOnce(c.cmd, c.env, c.cwd));
  const node0 = median(times.get("node -e 0")!);
  console.log(`${"command".padEnd(64)} ${"median ms".padStart(9)} ${"min ms".padStart(7)} ${"- node ms".padStart(9)}`);
  for (const c of cases) {
    const t = times.get(c.name)!;
    console.log(`${c.name.padEnd(64)} ${median(t).toFixed(0).padStart(9)} ${Math.min(...t).toFixed(0).padStart(7)} ${(median(t) - node0).toFixed(0).padStart(9)}`);
  }

  // atrium deid over the samples: the whole command vs the engine alone.
  const dicomFiles = readdirSync(SAMPLES_DIR).filter((f) => f.endsWith(".dcm")).length;
  const whole: number[] = [];
  const engine: number[] = [];
  for (let r = 0; r < Math.min(rounds, 5); r++) {
    const out = mkdtempSync(path.join(tmpdir(), "atrium-bench-deid-"));
    // Exit code 1: some samples are quarantined on purpose (malformed, not DICOM).
    whole.push(timeOnce([ATRIUM, "deid", "--in", SAMPLES_DIR, "--out", path.join(out, "a")], { ATRIUM_LOG_LEVEL: "warn", ATRIUM_BENCH_EXPECT_FAIL: "1" }));
    const e = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "bench", "deid.ts"), "--mode", "atrium", "--dir", SAMPLES_DIR, "--out", path.join(out, "b")], { cwd: root, encoding: "utf8" });
    const line = e.stdout.trim().split("\n").pop()!;
    engine.push(JSON.parse(line).secs * 1000);
    rmSync(out, { recursive: true, force: true });
  }
  console.log(`\natrium deid over ${SAMPLES_DIR} (${dicomFiles} DICOM files), median of ${whole.length}:`);
  console.log(`  whole command (process start, engine load, de-identification, output): ${median(whole).toFixed(0)} ms`);
  console.log(`  engine alone (the same files in a process that has loaded the engine):  ${median(engine).toFixed(0)} ms`);
  console.log(`  start and load overhead of the command: ${(median(whole) - median(engine)).toFixed(0)} ms (node -e 0: ${node0.toFixed(0)} ms)`);
  console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
} finally {
  await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await admin.end();
}
