// The local archive: send throughput (MB/s, studies/min) of createLocalArchiveDriver — parse the
// header, copy into the blob store with fsync and SHA-256, index in PostgreSQL, then verify —
// sequential and 4 studies at once, with baselines in the same run over the same bytes: a plain
// fs.copyFile of each file, and the durable copy alone (write + fsync + rename, as the blob store
// does, without parsing or indexing). Then QIDO-RS latency over real HTTP (token auth included)
// with 10,000 studies bulk-inserted into the index: p50/p95 of typical queries.
//
// Run: npx tsx bench/local-archive.ts [--studies 30] [--qido-studies 10000] [--iterations 200]
import { copyFile, mkdir, mkdtemp, open, readFile, rename, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { openDb, setDbHandle } from "../server/db";
import { migrate } from "../lib/db/migrate";
import { createDirBlobStore } from "../lib/blob";
import { experimentLabel, type ArchiveStudy } from "../lib/archive/driver";
import { readIndexHeader } from "../lib/archive/index-header";
import { generateToken } from "../lib/tokens";
import { SAMPLES_DIR } from "../lib/samples";
import { log } from "../lib/log";
import { createLocalArchiveDriver } from "../server/archive/local-driver";
import { startRouteServer } from "../tests/helpers/route-server";

const { values } = parseArgs({
  options: {
    studies: { type: "string", default: "30" },
    "qido-studies": { type: "string", default: "10000" },
    iterations: { type: "string", default: "200" },
  },
});
const N = Number(values.studies);
const QN = Number(values["qido-studies"]);
const ITER = Number(values.iterations);
const ADMIN_URL = process.env.ATRIUM_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const STUDY = ["53323131", "53323275", "53323419", "53323563", "53323707", "53323851"].map((n) => path.join(SAMPLES_DIR, `dwv__bbmri-${n}.dcm`));

const work = await mkdtemp(path.join(os.tmpdir(), "atrium-bench-local-"));
process.env.ATRIUM_DATA_DIR = work;
log.level = process.env.ATRIUM_LOG_LEVEL ?? "warn";
const dbName = `atrium_bench_la_${process.pid}_${Date.now()}`;
const admin = new pg.Client({ connectionString: ADMIN_URL });
await admin.connect();
await admin.query(`CREATE DATABASE "${dbName}"`);
const u = new URL(ADMIN_URL);
u.pathname = `/${dbName}`;
const handle = await openDb(u.toString());
const prisma = handle.prisma;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

try {
  await migrate(handle.sql);
  setDbHandle(Promise.resolve(handle));
  const sizes = await Promise.all(STUDY.map(async (f) => (await stat(f)).size));
  const studyBytes = sizes.reduce((a, b) => a + b, 0);
  const headers = STUDY.map((f) => readIndexHeader(f));
  const studyUid = headers[0]!.studyInstanceUid!;
  console.log(`corpus: ${N} studies of ${STUDY.length} MR instances (${(studyBytes / 1e6).toFixed(2)} MB each, shared samples), each into its own project`);
  console.log(`machine: ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}; blob store and baselines under ${os.tmpdir()}\n`);

  const report = (name: string, studies: number, ms: number) =>
    console.log(
      `${name.padEnd(58)} ${String(studies).padStart(4)} studies  ${((studies * studyBytes) / 1e6 / (ms / 1000)).toFixed(1).padStart(6)} MB/s  ${((studies / ms) * 60_000).toFixed(0).padStart(6)} studies/min  ${(ms / studies).toFixed(1).padStart(7)} ms/study`,
    );

  // ---- send throughput ----------------------------------------------------------------------
  for (let i = 0; i < 2 * N; i++) await prisma.project.create({ data: { id: `B${i}`, idLower: `b${i}`, name: `B${i}` } });
  const store = createDirBlobStore({ root: path.join(work, "archive") });
  const driver = createLocalArchiveDriver(prisma, store);
  const studyFor = (i: number): ArchiveStudy => ({
    studyId: `s${i}`,
    projectId: `B${i}`,
    studyInstanceUid: studyUid,
    subjectLabel: `SUBJ${i}`,
    experimentLabel: experimentLabel(`SUBJ${i}`, studyUid),
    instances: STUDY.map((f, k) => ({ instanceId: `i${i}_${k}`, path: f, sizeBytes: sizes[k]!, seriesInstanceUid: headers[k]!.seriesInstanceUid!, sopInstanceUid: headers[k]!.sopInstanceUid! })),
  });
  async function sendRange(from: number, to: number, concurrency: number): Promise<number> {
    let next = from;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < to) {
          const s = studyFor(next++);
          await driver.send(s);
          const v = await driver.verify(s);
          if (!v.ok) throw new Error(`verify failed: ${v.detail}`);
        }
      }),
    );
    return performance.now() - t0;
  }
  async function plainCopy(dir: string, concurrency: number): Promise<number> {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < N) {
          const d = path.join(dir, String(next++));
          await mkdir(d, { recursive: true });
          for (const f of STUDY) await copyFile(f, path.join(d, path.basename(f)));
        }
      }),
    );
    return performance.now() - t0;
  }
  async function durableCopy(dir: string, concurrency: number): Promise<number> {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < N) {
          const d = path.join(dir, String(next++));
          await mkdir(d, { recursive: true });
          for (const f of STUDY) {
            const bytes = await readFile(f);
            const tmp = path.join(d, `.${path.basename(f)}.tmp`);
            const fh = await open(tmp, "w");
            await fh.write(bytes);
            await fh.sync();
            await fh.close();
            await rename(tmp, path.join(d, path.basename(f)));
          }
          const dh = await open(d, "r");
          await dh.sync();
          await dh.close();
        }
      }),
    );
    return performance.now() - t0;
  }
  // warm-up (page cache, Prisma, JIT): one study, not counted
  await prisma.project.create({ data: { id: "WARM", idLower: "warm", name: "warm" } });
  await driver.send({ ...studyFor(0), projectId: "WARM" });
  report("baseline: fs.copyFile, sequential", N, await plainCopy(path.join(work, "copy-seq"), 1));
  report("baseline: durable copy (write+fsync+rename), sequential", N, await durableCopy(path.join(work, "dur-seq"), 1));
  report("local archive send+verify, sequential", N, await sendRange(0, N, 1));
  report("baseline: fs.copyFile, 4 at once", N, await plainCopy(path.join(work, "copy-par"), 4));
  report("baseline: durable copy (write+fsync+rename), 4 at once", N, await durableCopy(path.join(work, "dur-par"), 4));
  report("local archive send+verify, 4 studies at once", N, await sendRange(N, 2 * N, 4));
  const resend0 = performance.now();
  await sendRange(0, Math.min(N, 10), 1);
  report("local archive re-send of archived studies (idempotent merge)", Math.min(N, 10), performance.now() - resend0);

  // ---- QIDO-RS at scale -------------------------------------------------------------------------
  console.log(`\nQIDO-RS: bulk-inserting ${QN} studies (2 series each) into project QIDO…`);
  await prisma.project.create({ data: { id: "QIDO", idLower: "qido", name: "QIDO" } });
  const t0 = performance.now();
  await prisma.$executeRawUnsafe(`INSERT INTO "ArchiveSubject" (id, "projectId", label) SELECT 'subj' || g, 'QIDO', 'SUBJ' || lpad(g::text, 5, '0') FROM generate_series(1, ${Math.ceil(QN / 3)}) g`);
  await prisma.$executeRawUnsafe(`
    INSERT INTO "ArchiveExperiment" (id, "projectId", "subjectId", label, "studyInstanceUid", "studyDate", "studyTime", "studyDescription", "accessionNumber",
      "patientName", "patientId", "patientSex", modalities, "instanceCount", "sizeBytes", "updatedAt")
    SELECT 'exp' || g, 'QIDO', 'subj' || (1 + (g - 1) / 3), 'EXP' || g, '2.25.' || (1000000 + g),
      to_char(date '2015-01-01' + ((g * 7919) % 3650), 'YYYYMMDD'), lpad(((g * 37) % 24)::text, 2, '0') || '3000',
      (ARRAY['Brain MRI','Chest CT','Abdomen CT','Knee MRI','PET/CT'])[1 + g % 5], 'ACC' || g,
      'SUBJ' || lpad((1 + (g - 1) / 3)::text, 5, '0') || '^Pseudonym', 'SUBJ' || lpad((1 + (g - 1) / 3)::text, 5, '0'), (ARRAY['F','M','O'])[1 + g % 3],
      CASE g % 5 WHEN 0 THEN ARRAY['MR'] WHEN 3 THEN ARRAY['MR'] WHEN 4 THEN ARRAY['CT','PT'] ELSE ARRAY['CT'] END, 200, 100000000, now()
    FROM generate_series(1, ${QN}) g`);
  await prisma.$executeRawUnsafe(`
    INSERT INTO "ArchiveScan" (id, "experimentId", "seriesInstanceUid", "seriesNumber", modality, "seriesDescription", "instanceCount", "sizeBytes")
    SELECT 'scan' || g || '_' || k, 'exp' || g, '2.25.' || (1000000 + g) || '.' || k, k, (ARRAY['MR','CT','CT','MR','CT'])[1 + g % 5], 'series ' || k, 100, 50000000
    FROM generate_series(1, ${QN}) g, generate_series(1, 2) k`);
  await prisma.$executeRawUnsafe(`ANALYZE "ArchiveSubject"`);
  await prisma.$executeRawUnsafe(`ANALYZE "ArchiveExperiment"`);
  await prisma.$executeRawUnsafe(`ANALYZE "ArchiveScan"`);
  console.log(`inserted in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const t = generateToken();
  await prisma.projectApiToken.create({ data: { projectId: "QIDO", name: "bench", prefix: t.prefix, tokenHash: t.tokenHash, scopes: ["read"] } });
  const studies = await import("../app/dicomweb/projects/[projectId]/studies/route");
  const below = await import("../app/dicomweb/projects/[projectId]/studies/[...path]/route");
  const server = await startRouteServer([
    { method: "GET", pattern: /^\/dicomweb\/projects\/(?<projectId>[^/]+)\/studies\/?$/, handler: (req, ctx) => studies.GET(req, ctx as { params: Promise<{ projectId: string }> }) },
    {
      method: "GET",
      pattern: /^\/dicomweb\/projects\/(?<projectId>[^/]+)\/studies\/(?<path>.+)$/,
      handler: async (req, ctx) => {
        const p = await ctx.params;
        return below.GET(req, { params: Promise.resolve({ projectId: p.projectId!, path: p.path!.split("/") }) });
      },
    },
  ]);
  const auth = { authorization: `Bearer ${t.token}`, accept: "application/dicom+json" };
  const queries: Array<[string, (i: number) => string]> = [
    ["all studies, paged (limit=100, offset up to 9,900)", (i) => `studies?limit=100&offset=${((i * 4099) % Math.max(1, QN / 100)) * 100}`],
    ["all studies, first page (default limit 1000)", () => `studies`],
    ["PatientID exact", (i) => `studies?PatientID=SUBJ${String(1 + ((i * 577) % Math.ceil(QN / 3))).padStart(5, "0")}`],
    ["PatientName wildcard (SUBJ012*)", (i) => `studies?PatientName=SUBJ${String((i * 7) % 100).padStart(3, "0")}*`],
    ["StudyDate range (one month)", (i) => `studies?StudyDate=${2015 + (i % 10)}0301-${2015 + (i % 10)}0331`],
    ["ModalitiesInStudy=CT (limit=100)", () => `studies?ModalitiesInStudy=CT&limit=100`],
    ["StudyDate range + ModalitiesInStudy=MR", (i) => `studies?StudyDate=${2015 + (i % 10)}0101-${2015 + (i % 10)}1231&ModalitiesInStudy=MR&limit=100`],
    ["series of one study", (i) => `studies/2.25.${1000000 + 1 + ((i * 131) % QN)}/series`],
  ];
  console.log(`\nQIDO-RS over HTTP (token auth, ${QN} studies, ${ITER} requests each, sequential):`);
  for (const [name, q] of queries) {
    for (let i = 0; i < 10; i++) await (await fetch(`${server.url}/dicomweb/projects/QIDO/${q(i)}`, { headers: auth })).arrayBuffer();
    const lat: number[] = [];
    let results = 0;
    for (let i = 0; i < ITER; i++) {
      const s = performance.now();
      const r = await fetch(`${server.url}/dicomweb/projects/QIDO/${q(i)}`, { headers: auth });
      const body = (await r.json()) as unknown[];
      lat.push(performance.now() - s);
      if (r.status !== 200) throw new Error(`${name}: ${r.status}`);
      results += body.length;
    }
    console.log(`  ${name.padEnd(50)} p50 ${pct(lat, 50).toFixed(1).padStart(6)} ms  p95 ${pct(lat, 95).toFixed(1).padStart(6)} ms  (${(results / ITER).toFixed(0)} results/query)`);
  }
  await server.close();
} finally {
  setDbHandle(undefined);
  await handle.close();
  await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await admin.end();
  await rm(work, { recursive: true, force: true });
}
