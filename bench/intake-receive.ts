// Intake receive benchmark (issue #5): DCMTK storescu sends the same N ≥ 1,000 instances, in one
// run, to Atrium (`atrium worker`: DICOM listener + de-identification workers, PostgreSQL + Redis;
// each instance fsynced and recorded in PostgreSQL before its C-STORE status) and to Orthanc
// (Debian 1.10.1, storing to its own disk with its SQLite index), with 1 and 4 associations.
// Both receivers are started once and warmed up with the same send before anything is measured
// (a long-running receiver has its code loaded and its caches filled); the order alternates from
// run to run (neither always goes first), ≥ 3 rounds. Orthanc's instances are deleted between runs
// (it would acknowledge re-sent SOP Instance UIDs without storing them); Atrium gets a fresh project
// per run (the same reason). Prints instances/s and MB/s of acknowledged receive for both and the
// ratio, Atrium's end-to-end rate (received, de-identified, stored) beside it, how many instances
// were de-identified by the end of the send (senders first: see ATRIUM_DEID_YIELD_MS; run with
// ATRIUM_DEID_YIELD_MS=0 for de-identification sharing the cores throughout), and the machine's CPU
// time per instance by process.
//   npx tsx bench/intake-receive.ts [N=1000] [rounds=3]
// Environment: BENCH_NO_QUEUES=1 runs Atrium as a dedicated receiver (`atrium worker --no-queues`,
// no de-identification in that process; the end-to-end row is then not measured);
// BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the worker;
// BENCH_WORKER_LOG=FILE with BENCH_WORKER_LOG_LEVEL=debug keeps its log (per-instance receiveMs/hookMs).
// Sender: storescu (DCMTK 3.6.7), TCP_NODELAY=1, default presentation contexts, +sd, loopback.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { appendFileSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { openDb } from "../server/db";
import { freePort } from "../lib/net";
import { makeCorpus } from "../tests/helpers/corpus";
import { startOrthanc, type OrthancProcess } from "../tests/helpers/orthanc";

const N = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 3);
const ASSOCIATIONS = [1, 4];
const NO_QUEUES = process.env.BENCH_NO_QUEUES === "1";
const ROOT = path.resolve(import.meta.dirname, "..");
const ADMIN_URL = process.env.ATRIUM_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";

function storescu(port: number, aec: string, dirs: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn("storescu", ["-aec", aec, "-aet", "BENCHSCU", "+sd", "127.0.0.1", String(port), ...dirs], {
      env: { ...process.env, TCP_NODELAY: "1" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    c.stderr.on("data", (d) => (err += d));
    c.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`storescu exited ${code}: ${err.slice(0, 400)}`))));
  });
}

/** Busy CPU time of the whole machine so far (all cores, all processes), in ms, from /proc/stat. */
function machineBusyMs(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu as number[];
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / 100; // USER_HZ = 100
}

/**
 * CPU time (ms) used so far by each kind of process: the senders (storescu, children of this
 * process, counted once reaped), the receiver under test, PostgreSQL and Redis. From /proc.
 */
function cpuByProcess(receiverPid: number | undefined, receiverComm: string): Record<string, number> {
  const ticks = (stat: string, fields: number[]) => {
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields.reduce((sum, i) => sum + Number(f[i - 3]), 0) * 10; // USER_HZ = 100
  };
  const out: Record<string, number> = { sender: ticks(readFileSync("/proc/self/stat", "utf8"), [16, 17]), receiver: 0, "receiver (kernel)": 0, postgres: 0, redis: 0 };
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const key = Number(pid) === receiverPid || comm === receiverComm ? "receiver" : comm.startsWith("postgres") ? "postgres" : comm.startsWith("redis") ? "redis" : null;
    if (key) out[key]! += ticks(stat, [14, 15]);
    if (key === "receiver") out["receiver (kernel)"]! += ticks(stat, [15]);
  }
  return out;
}

function addCpu(key: string, before: Record<string, number>, after: Record<string, number>) {
  for (const k of Object.keys(before)) push(`${key} ${k}`, (after[k]! - before[k]!) / N);
}

const results = new Map<string, number[]>();
const push = (k: string, v: number) => results.set(k, [...(results.get(k) ?? []), v]);

/** Runs `associations` storescu processes over the corpus' parts; resolves with the wall time in s. */
async function send(port: number, aec: string, dirs: string[], associations: number): Promise<number> {
  const groups = Array.from({ length: associations }, (_, a) => dirs.filter((_, i) => i % associations === a));
  const t0 = performance.now();
  await Promise.all(groups.map((g) => storescu(port, aec, g)));
  return (performance.now() - t0) / 1000;
}

async function orthancInstances(orthanc: OrthancProcess): Promise<number> {
  return ((await (await orthanc.rest("/statistics")).json()) as { CountInstances: number }).CountInstances;
}

/** Deletes every study Orthanc holds (files and index rows), so the next run stores everything anew. */
async function emptyOrthanc(orthanc: OrthancProcess): Promise<void> {
  const studies = (await (await orthanc.rest("/studies")).json()) as string[];
  for (const s of studies) {
    const r = await orthanc.rest(`/studies/${s}`, { method: "DELETE" });
    if (!r.ok) throw new Error(`Orthanc refused to delete a study: HTTP ${r.status}`);
  }
  const left = await orthancInstances(orthanc);
  if (left !== 0) throw new Error(`Orthanc still holds ${left} instances after deleting every study`);
}

async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `atrium_bench_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  try {
    return await fn(u.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

async function startWorker(databaseUrl: string, dataDir: string, dicomPort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...(process.env.BENCH_WORKER_NODE_ARGS?.split(" ") ?? []), path.join(ROOT, "bin", "atrium.mjs"), "worker", ...(NO_QUEUES ? ["--no-queues"] : [])], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      ATRIUM_DATA_DIR: dataDir,
      ATRIUM_DICOM_PORT: String(dicomPort),
      ATRIUM_QUEUE_PREFIX: `bench-${process.pid}`,
      NEXTAUTH_SECRET: "benchmark-secret-of-enough-length",
      ATRIUM_LOG_LEVEL: process.env.BENCH_WORKER_LOG_LEVEL ?? "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  if (process.env.BENCH_WORKER_LOG) child.stdout!.on("data", (d) => appendFileSync(process.env.BENCH_WORKER_LOG!, d));
  const deadline = Date.now() + 60_000;
  while (!/atrium worker: running/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`atrium worker did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), "atrium-bench-intake-"));
  try {
    const corpus = await makeCorpus(path.join(work, "corpus"), N, 4);
    const mb = corpus.bytes / 1e6;
    console.log(`corpus: ${N} instances (copies of ${corpus.sources} single-frame uncompressed CT/MR samples with new SOP Instance UIDs), ${mb.toFixed(1)} MB`);
    console.log(`sender: storescu (DCMTK 3.6.7), TCP_NODELAY=1, default contexts, loopback; both receivers started once and warmed up with the same ${Math.round(N / corpus.dirs.length)} instances; ${ROUNDS} rounds, the order alternating run by run; machine: ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}\n`);


    if (ROUNDS < 3) console.log(`(only ${ROUNDS} round${ROUNDS === 1 ? "" : "s"}: a check that the benchmark runs, not figures to compare)\n`);

    await withDatabase(async (databaseUrl) => {
      const dataDir = path.join(work, "atrium");
      const dicomPort = await freePort();
      const worker = await startWorker(databaseUrl, dataDir, dicomPort);
      const orthanc = await startOrthanc();
      const handle = await openDb(databaseUrl);
      const prisma = handle.prisma;
      try {
        // Warm-up (not measured), the same send to both: a long-running receiver has its code
        // loaded and its caches filled.
        await prisma.project.create({ data: { id: "WARMUP", idLower: "warmup", name: "WARMUP", aeRoutes: { create: { aeTitle: "WARMUP", allowedCallingAes: [], allowedAddresses: [] } } } });
        await send(dicomPort, "WARMUP", corpus.dirs.slice(0, 1), 1);
        while (!NO_QUEUES && (await prisma.receivedInstance.count({ where: { projectId: "WARMUP", status: "received" } })) > 0) await new Promise((r) => setTimeout(r, 100));
        await send(orthanc.dicomPort, orthanc.aet, corpus.dirs.slice(0, 1), 1);
        await emptyOrthanc(orthanc);

        const runOrthanc = async (assoc: number) => {
          const oCpu0 = machineBusyMs();
          const oBy0 = cpuByProcess(undefined, "Orthanc");
          const os_ = await send(orthanc.dicomPort, orthanc.aet, corpus.dirs, assoc);
          push(`orthanc-cpu ${assoc}`, (machineBusyMs() - oCpu0) / N);
          addCpu(`orthanc-by ${assoc}`, oBy0, cpuByProcess(undefined, "Orthanc"));
          const stored = await orthancInstances(orthanc);
          if (stored !== N) throw new Error(`Orthanc stored ${stored}/${N}`);
          push(`orthanc ${assoc}`, os_);
          // Not measured: the next run stores every instance anew.
          await emptyOrthanc(orthanc);
        };
        let run = 0;
        const runAtrium = async (assoc: number) => {
          // A fresh project per run, so every instance is new to it
          const id = `BENCH${++run}`;
          await prisma.project.create({ data: { id, idLower: id.toLowerCase(), name: id, aeRoutes: { create: { aeTitle: id, allowedCallingAes: [], allowedAddresses: [] } } } });
          const t0 = performance.now();
          const aCpu0 = machineBusyMs();
          const aBy0 = cpuByProcess(worker.pid, "");
          const as = await send(dicomPort, id, corpus.dirs, assoc);
          push(`atrium-cpu ${assoc}`, (machineBusyMs() - aCpu0) / N);
          addCpu(`atrium-by ${assoc}`, aBy0, cpuByProcess(worker.pid, ""));
          const acked = await prisma.receivedInstance.count({ where: { projectId: id } });
          if (acked !== N) throw new Error(`Atrium recorded ${acked}/${N} at the end of the send`);
          push(`atrium-deid-during ${assoc}`, await prisma.receivedInstance.count({ where: { projectId: id, status: { not: "received" } } }));
          // The next run starts with Atrium's de-identification finished, as Orthanc's has nothing left to do.
          for (;;) {
            if (NO_QUEUES) break;
            const pending = await prisma.receivedInstance.count({ where: { projectId: id, status: "received" } });
            if (pending === 0) break;
            await new Promise((r) => setTimeout(r, 50));
          }
          const e2e = (performance.now() - t0) / 1000;
          const done = await prisma.receivedInstance.count({ where: { projectId: id, status: "deidentified" } });
          if (done !== N && !NO_QUEUES) throw new Error(`Atrium de-identified ${done}/${N}`);
          push(`atrium ${assoc}`, as);
          push(`atrium-e2e ${assoc}`, e2e);
        };
        for (let round = 0; round < ROUNDS; round++) {
          for (const [ai, assoc] of ASSOCIATIONS.entries()) {
            // Alternate which receiver goes first: from run to run, and for each association count from round to round.
            const orthancFirst = (round + ai) % 2 === 0;
            push(`orthanc-first ${assoc}`, orthancFirst ? 1 : 0);
            if (orthancFirst) {
              await runOrthanc(assoc);
              await runAtrium(assoc);
            } else {
              await runAtrium(assoc);
              await runOrthanc(assoc);
            }
          }
        }
      } finally {
        await handle.close();
        await orthanc.stop();
        worker.kill("SIGTERM");
        await new Promise((r) => worker.once("exit", r));
      }
    });

    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const fmt = (label: string, key: string) => {
      const s = median(results.get(key)!);
      const first = results.get(`orthanc-first ${key.split(" ").pop()}`)!;
      const who = key.startsWith("orthanc") ? 1 : 0;
      const runs = results.get(key)!.map((x, i) => `${x.toFixed(2)} s${first[i] === who ? " (first)" : ""}`);
      return `${label.padEnd(52)} ${(N / s).toFixed(0).padStart(6)} inst/s ${(mb / s).toFixed(1).padStart(7)} MB/s   (runs: ${runs.join(", ")})`;
    };
    for (const a of ASSOCIATIONS) {
      console.log(`— ${a} association${a > 1 ? "s" : ""}`);
      console.log(fmt("Orthanc 1.10.1 (baseline), acknowledged", `orthanc ${a}`));
      console.log(fmt(`Atrium${NO_QUEUES ? " receiver only" : ""}, acknowledged (fsynced + recorded)`, `atrium ${a}`));
      if (!NO_QUEUES) {
        console.log(fmt("Atrium, end to end (received, de-identified, stored)", `atrium-e2e ${a}`));
        console.log(`  de-identified by the end of the send: ${results.get(`atrium-deid-during ${a}`)!.join(", ")} of ${N} (ATRIUM_DEID_YIELD_MS=${process.env.ATRIUM_DEID_YIELD_MS ?? "default"})`);
      }
      console.log(
        `machine CPU per instance while sending (all processes: sender, receiver, databases${NO_QUEUES ? "" : ", de-identification"}): Orthanc ${median(results.get(`orthanc-cpu ${a}`)!).toFixed(2)} ms, Atrium ${median(results.get(`atrium-cpu ${a}`)!).toFixed(2)} ms`,
      );
      const by = (who: string) =>
        ["sender", "receiver", "receiver (kernel)", "postgres", "redis"].map((k) => `${k} ${median(results.get(`${who}-by ${a} ${k}`)!).toFixed(2)}`).join(", ");
      console.log(`  of which (ms per instance): Orthanc run: ${by("orthanc")}; Atrium run: ${by("atrium")}`);
      console.log(`ratio Atrium / Orthanc (acknowledged): ${(median(results.get(`orthanc ${a}`)!) / median(results.get(`atrium ${a}`)!)).toFixed(2)}\n`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
