// Forwarding throughput (issue #19): one study of N de-identified MR instances (copies of the MR
// samples with new SOP Instance UIDs, received and de-identified as intake does) forwarded to a real
// Orthanc as the worker does it (runForwardAttempt: load the study from PostgreSQL, plan, send,
// record every outcome, verify with C-FIND / QIDO-RS, state writes).
//   C-STORE, 1 and 4 associations, against DCMTK storescu sending the same de-identified files to
//   the same Orthanc (one storescu, and 4 storescu processes with a quarter of the files each).
//   STOW-RS (batches of 20, 2 requests in flight), against a bare fetch POST of prebuilt multipart bodies of the same
//   batches to the same Orthanc (no file reads, no database, no verification).
// Orthanc is emptied before every run; runs are interleaved; the median of 3 is shown.
//
// Run: npx tsx bench/forward.ts [--instances 1000] [--rounds 3]
// Needs the test PostgreSQL (ATRIUM_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test),
// Orthanc with its DICOMweb plugin and DCMTK (dcmodify, storescu).
import { execFile as execFileCb, execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";

const execFile = promisify(execFileCb);
const { values } = parseArgs({ options: { instances: { type: "string", default: "1000" }, rounds: { type: "string", default: "3" } } });
const N = Number(values.instances);
const ROUNDS = Number(values.rounds);
const ADMIN_URL = process.env.ATRIUM_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-bench-forward-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_SECRET_KEY ??= "atrium-bench-secret-key";
process.env.ATRIUM_LOG_LEVEL ??= "error";
process.env.ATRIUM_OUTBOUND_ALLOW = "127.0.0.1";

const { openDb, setDbHandle } = await import("../server/db");
const { migrate } = await import("../lib/db/migrate");
const { deidentifyInstance } = await import("../server/intake/deidentify");
const { loadArchiveStudy } = await import("../server/archive/run");
const { runForwardAttempt } = await import("../server/forward/run");
const { multipartBody } = await import("../lib/forward/stow");
const { stageFile } = await import("../tests/archive/helpers-intake");
const { startOrthanc } = await import("../tests/helpers/orthanc");
const { SAMPLES_DIR } = await import("../lib/samples");

const dbName = `atrium_bench_forward_${process.pid}`;
const admin = new pg.Client({ connectionString: ADMIN_URL });
await admin.connect();
await admin.query(`CREATE DATABASE "${dbName}"`);
const u = new URL(ADMIN_URL);
u.pathname = `/${dbName}`;
const handle = await openDb(u.toString());
await migrate(handle.sql);
setDbHandle(Promise.resolve(handle));
const prisma = handle.prisma;
const orthanc = await startOrthanc({ dicomweb: true, config: { DicomAlwaysAllowFind: true } });
const srcDir = mkdtempSync(path.join(os.tmpdir(), "atrium-bench-forward-src-"));
const P = "BENCH";

try {
  await prisma.project.create({ data: { id: P, idLower: "bench", name: "Bench" } });
  const MR = ["dwv__bbmri-53323131.dcm", "dwv__bbmri-53323275.dcm", "dwv__bbmri-53323419.dcm", "dwv__bbmri-53323563.dcm", "dwv__bbmri-53323707.dcm", "dwv__bbmri-53323851.dcm"];
  const sources: string[] = [];
  for (let i = 0; i < N; i++) {
    const f = path.join(srcDir, `i${String(i).padStart(5, "0")}.dcm`);
    copyFileSync(path.join(SAMPLES_DIR, MR[i % MR.length]!), f);
    sources.push(f);
  }
  // New SOP Instance UIDs; one study (the samples' own).
  for (let i = 0; i < sources.length; i += 200) execFileSync("dcmodify", ["-nb", "-gin", ...sources.slice(i, i + 200)]);
  const t0 = performance.now();
  let studyId = "";
  for (const f of sources) {
    const inst = await stageFile(prisma, dataDir, P, f, "bench");
    if ((await deidentifyInstance(prisma, dataDir, inst.id)) !== "deidentified") throw new Error("de-identification failed");
    studyId ||= (await prisma.receivedInstance.findUniqueOrThrow({ where: { id: inst.id } })).studyId!;
  }
  await prisma.intakeStudy.update({ where: { id: studyId }, data: { status: "archived" } });
  const study = await loadArchiveStudy(prisma, dataDir, studyId);
  if (study.instances.length !== N) throw new Error(`the study has ${study.instances.length} instances, not ${N}`);
  const files = study.instances.map((i) => i.path);
  const bytes = study.instances.reduce((n, i) => n + i.sizeBytes, 0);
  console.log(`Forwarding benchmark: one study of ${N} de-identified MR instances (${(bytes / 1e6).toFixed(1)} MB; prepared in ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  console.log(`receiver: Orthanc ${(await (await orthanc.rest("/system")).json() as { Version: string }).Version} on 127.0.0.1 (C-STORE and DICOMweb STOW-RS), emptied before each run; TCP_NODELAY=1 for DCMTK and Orthanc`);
  console.log(`node ${process.version}, ${os.cpus().length} CPUs; median of ${ROUNDS} interleaved runs\n`);

  const empty = async () => {
    const studies = (await (await orthanc.rest("/studies")).json()) as string[];
    for (const s of studies) await orthanc.rest(`/studies/${s}`, { method: "DELETE" });
  };
  const stored = async () => ((await (await orthanc.rest("/statistics")).json()) as { CountInstances: number }).CountInstances;
  const env = { ...process.env, TCP_NODELAY: "1" };

  let round = 0;
  async function atrium(kind: "dicom" | "stow", associations: number): Promise<number> {
    round++;
    const dest = await prisma.forwardDestination.create({
      data:
        kind === "dicom"
          ? { projectId: P, name: `bench ${round}`, kind, host: "127.0.0.1", port: orthanc.dicomPort, calledAe: orthanc.aet, callingAe: "ATRIUM", associations }
          : { projectId: P, name: `bench ${round}`, kind, stowUrl: `${orthanc.url}/dicom-web` },
    });
    const fwd = await prisma.studyForward.create({ data: { destinationId: dest.id, studyId, projectId: P } });
    const t = performance.now();
    const r = await runForwardAttempt(prisma, dataDir, fwd.id, 1);
    const ms = performance.now() - t;
    const row = await prisma.studyForward.findUniqueOrThrow({ where: { id: fwd.id } });
    if (r !== "verified" || row.sent !== N) throw new Error(`${kind}: ${r}, sent ${row.sent} of ${N}: ${row.lastError}`);
    return ms;
  }
  async function storescu(processes: number): Promise<number> {
    const parts = Array.from({ length: processes }, (_, p) => files.filter((_f, i) => i % processes === p));
    const t = performance.now();
    await Promise.all(parts.map((part) => execFile("storescu", ["-aec", orthanc.aet, "-aet", "STORESCU", "-nh", "127.0.0.1", String(orthanc.dicomPort), ...part], { env, maxBuffer: 64 * 1024 * 1024 })));
    return performance.now() - t;
  }
  // Bare multipart POST: the same batches of 20 as stowSend, bodies built before the clock starts.
  const boundary = `bench-${randomBytes(8).toString("hex")}`;
  const bodies: Buffer[] = [];
  for (let i = 0; i < files.length; i += 20) bodies.push(multipartBody(files.slice(i, i + 20).map((f) => readFileSync(f)), boundary));
  async function bareStow(): Promise<number> {
    const t = performance.now();
    for (const body of bodies) {
      const res = await fetch(`${orthanc.url}/dicom-web/studies`, { method: "POST", body: body as unknown as BodyInit, headers: { "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}`, accept: "application/dicom+json" } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`bare STOW-RS POST: HTTP ${res.status}`);
    }
    return performance.now() - t;
  }

  const runs = new Map<string, number[]>();
  const add = (k: string, ms: number) => runs.set(k, [...(runs.get(k) ?? []), ms]);
  const measure = async (k: string, fn: () => Promise<number>) => {
    await empty();
    const ms = await fn();
    const n = await stored();
    if (n !== N) throw new Error(`${k}: Orthanc holds ${n} instances, not ${N}`);
    add(k, ms);
  };
  for (let r = 0; r < ROUNDS; r++) {
    await measure("storescu (1 association)", () => storescu(1));
    await measure("atrium C-STORE, 1 association", () => atrium("dicom", 1));
    await measure("storescu ×4 (4 processes)", () => storescu(4));
    await measure("atrium C-STORE, 4 associations", () => atrium("dicom", 4));
    await measure("bare multipart POST (20/request)", bareStow);
    await measure("atrium STOW-RS (20/request, 2 in flight)", () => atrium("stow", 1));
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const m = (k: string) => median(runs.get(k)!);
  const line = (k: string, base: string) =>
    console.log(`${k.padEnd(34)} ${(m(k) / 1000).toFixed(2).padStart(6)} s  ${((N * 1000) / m(k)).toFixed(0).padStart(5)} inst/s  ${((bytes / 1e6) / (m(k) / 1000)).toFixed(1).padStart(6)} MB/s  ${k === base ? "baseline" : `${(m(base) / m(k)).toFixed(2)}× ${base}`}`);
  line("storescu (1 association)", "storescu (1 association)");
  line("atrium C-STORE, 1 association", "storescu (1 association)");
  line("atrium C-STORE, 4 associations", "storescu (1 association)");
  line("storescu ×4 (4 processes)", "storescu ×4 (4 processes)");
  line("atrium C-STORE, 4 associations", "storescu ×4 (4 processes)");
  line("bare multipart POST (20/request)", "bare multipart POST (20/request)");
  line("atrium STOW-RS (20/request, 2 in flight)", "bare multipart POST (20/request)");
  console.log("\natrium = runForwardAttempt: includes loading the study, reading every file's framing (C-STORE: from the bytes read to send it), recording every outcome in PostgreSQL and the verification query.");
} finally {
  await orthanc.stop();
  setDbHandle(undefined);
  await handle.close();
  await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => undefined);
  await admin.end();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(srcDir, { recursive: true, force: true });
}
