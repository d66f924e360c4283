// Archive throughput (issue #6): the archive step as the worker runs it (runArchiveAttempt: load the
// study from PostgreSQL, send, verify, state writes) to the XNAT test server over HTTP and to the
// built-in local archive, sequential and 4 at a time, in MB/s of DICOM and studies/min. Baselines
// in the same run, on the same de-identified bytes: a bare fetch POST of a prebuilt zip of each
// study to the same test server (no client, no verification, no database), and a plain copy + fsync
// of each study's files (what a local archive cannot do less than).
// Verification (#20), per study, against the rewriting XNAT test server (it re-encodes every DICOM
// file it imports as XNAT's dcm4che2 does, so sizes differ): the driver's verify (experiment,
// per-scan file listings, SOP Instance UID sets and counts compared, size notes) beside a baseline of
// the same listing requests made bare with fetch (what any verification from the listings costs).
//
// Run: npx tsx bench/archive.ts [--studies 20] [--concurrency 4]
// Needs the test PostgreSQL (ATRIUM_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test).
import { copyFile, mkdir, mkdtemp, open, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";

const { values } = parseArgs({ options: { studies: { type: "string", default: "20" }, concurrency: { type: "string", default: "4" } } });
const N = Number(values.studies);
const C = Number(values.concurrency);
const ADMIN_URL = process.env.ATRIUM_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";

const dataDir = await mkdtemp(path.join(os.tmpdir(), "atrium-bench-archive-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_SECRET_KEY ??= "atrium-bench-secret-key";
process.env.ATRIUM_LOG_LEVEL ??= "error";
// The XNAT test server listens on this machine: outbound requests to loopback are allowed here.
process.env.ATRIUM_OUTBOUND_ALLOW ??= "127.0.0.0/8,::1,localhost";

const { openDb, setDbHandle } = await import("../server/db");
const { migrate } = await import("../lib/db/migrate");
const { sealSecret } = await import("../server/secrets");
const { deidentifyInstance } = await import("../server/intake/deidentify");
const { runArchiveAttempt, loadArchiveStudy } = await import("../server/archive/run");
const { dicomZipStream, XnatClient } = await import("../lib/xnat");
const { XnatArchiveDriver } = await import("../lib/archive/xnat-driver");
const { startXnatTestServer } = await import("../tests/xnat/server");
const { rewriteSamples } = await import("../tests/xnat/helpers");
const { stageFile } = await import("../tests/archive/helpers-intake");

const MR = ["dwv__bbmri-53323131.dcm", "dwv__bbmri-53323275.dcm", "dwv__bbmri-53323419.dcm", "dwv__bbmri-53323563.dcm", "dwv__bbmri-53323707.dcm", "dwv__bbmri-53323851.dcm"];

const dbName = `atrium_bench_archive_${process.pid}`;
const admin = new pg.Client({ connectionString: ADMIN_URL });
await admin.connect();
await admin.query(`CREATE DATABASE "${dbName}"`);
const u = new URL(ADMIN_URL);
u.pathname = `/${dbName}`;
const handle = await openDb(u.toString());
await migrate(handle.sql);
setDbHandle(Promise.resolve(handle));
const prisma = handle.prisma;

// rewriteDicom (the default): stored files are re-encoded as XNAT does, sizes change.
const xnat = await startXnatTestServer({ users: [{ login: "bench", password: "bench-pw" }], keepFileData: false, rewriteDicom: true });
const P = "BENCH";
try {
  await prisma.project.create({ data: { id: P, idLower: "bench", name: "Bench" } });

  // N studies of 6 MR instances, each with its own UIDs, received and de-identified as intake does.
  const studyIds: string[] = [];
  for (let s = 0; s < N; s++) {
    const files = await rewriteSamples(MR, (ds, i) => {
      ds.StudyInstanceUID = `1.2.826.0.1.3680043.10.777.${s + 1}`;
      ds.SeriesInstanceUID = `1.2.826.0.1.3680043.10.777.${s + 1}.1`;
      ds.SOPInstanceUID = `1.2.826.0.1.3680043.10.777.${s + 1}.1.${i + 1}`;
      ds.PatientID = `BENCH${s + 1}`;
    });
    let studyId = "";
    for (const f of files) {
      const inst = await stageFile(prisma, dataDir, P, f.path, "bench");
      await deidentifyInstance(prisma, dataDir, inst.id);
      studyId = (await prisma.receivedInstance.findUniqueOrThrow({ where: { id: inst.id } })).studyId!;
    }
    studyIds.push(studyId);
  }
  const studies = await Promise.all(studyIds.map((id) => loadArchiveStudy(prisma, dataDir, id)));
  const totalBytes = studies.reduce((n, s) => n + s.instances.reduce((m, i) => m + i.sizeBytes, 0), 0);

  const report = (name: string, ms: number) =>
    console.log(
      `${name.padEnd(50)} ${String(N).padStart(4)} studies  ${(totalBytes / 1e6 / (ms / 1000)).toFixed(1).padStart(6)} MB/s  ${((N / ms) * 60_000).toFixed(0).padStart(6)} studies/min  ${(ms / N).toFixed(1).padStart(7)} ms/study`,
    );

  async function pool(concurrency: number, fn: (i: number) => Promise<void>): Promise<number> {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < N) await fn(next++);
    }));
    return performance.now() - t0;
  }

  let round = 0;
  async function archiveRun(name: string, target: "xnat" | "local", concurrency: number) {
    round++;
    if (target === "xnat") {
      const project = `BENCH${round}`;
      xnat.addProject(project, { owners: ["bench"] });
      const fields = { kind: "xnat" as const, xnatUrl: xnat.url, xnatProject: project, xnatUser: "bench", xnatSecretSealed: sealSecret("bench-pw", { table: "ProjectArchiveTarget", id: P, field: "xnatSecretSealed" }) };
      await prisma.projectArchiveTarget.upsert({ where: { projectId: P }, create: { projectId: P, ...fields }, update: fields });
    } else {
      await prisma.projectArchiveTarget.upsert({ where: { projectId: P }, create: { projectId: P, kind: "local" }, update: { kind: "local" } });
      // A fresh index; the blobs of the previous run are overwritten (atomic put), as a first store writes them.
      await prisma.archiveSubject.deleteMany({ where: { projectId: P } });
    }
    await prisma.studyArchive.deleteMany({ where: { projectId: P } });
    await prisma.studyArchive.createMany({ data: studyIds.map((studyId) => ({ studyId, projectId: P, state: "queued" as const, targetKind: target })) });
    const ms = await pool(concurrency, async (i) => {
      const r = await runArchiveAttempt(prisma, dataDir, studyIds[i]!, 1);
      if (r !== "archived") throw new Error(`study ${i} not archived: ${(await prisma.studyArchive.findUnique({ where: { studyId: studyIds[i]! } }))?.lastError}`);
    });
    report(name, ms);
  }

  console.log(`Archive benchmark: ${N} studies of 6 de-identified MR instances, ${(totalBytes / 1e6).toFixed(2)} MB in all; XNAT test server in-process on 127.0.0.1; PostgreSQL ${u.host}`);
  console.log(`node ${process.version}, ${os.cpus().length} CPUs\n`);

  // Baseline: the same bytes, zipped beforehand, POSTed bare to the import service.
  {
    xnat.addProject("RAW", { owners: ["bench"] });
    const client = await XnatClient.connect({ url: xnat.url, username: "bench", password: "bench-pw", heartbeat: false });
    const zips = await Promise.all(studies.map(async (s) => Buffer.from(await new Response(dicomZipStream(s.instances.map((i) => ({ path: i.path, size: i.sizeBytes })))).arrayBuffer())));
    const cookie = `JSESSIONID=${client.transport.sessionId}`;
    const ms = await pool(1, async (i) => {
      const res = await fetch(`${xnat.url}/data/services/import?import-handler=DICOM-zip&project=RAW&subject=RAW${i}&session=RAW${i}_MR&dest=/archive/projects/RAW&prevent_anon=true`, {
        method: "POST",
        body: zips[i],
        headers: { Cookie: cookie, "Content-Type": "application/zip" },
      });
      if (res.status !== 200) throw new Error(`baseline upload failed: ${res.status}`);
      await res.arrayBuffer();
    });
    report("baseline: bare fetch POST of a prebuilt zip, seq", ms);
    await client.close();
  }
  // Baseline: copy each study's files and fsync them.
  {
    const dir = path.join(dataDir, "copy-baseline");
    const ms = await pool(1, async (i) => {
      const d = path.join(dir, String(i));
      await mkdir(d, { recursive: true });
      for (const inst of studies[i]!.instances) {
        const to = path.join(d, `${inst.sopInstanceUid}.dcm`);
        await copyFile(inst.path, to);
        const fh = await open(to, "r+");
        await fh.sync();
        await fh.close();
      }
    });
    report("baseline: copy + fsync of the files, seq", ms);
  }

  await archiveRun("atrium archive → XNAT test server, seq", "xnat", 1);

  // Verification per study, of the studies just archived into BENCH1 (sequential, one session).
  {
    const stats = (ms: number[]) => {
      const sorted = [...ms].sort((a, b) => a - b);
      return { mean: ms.reduce((a, b) => a + b, 0) / ms.length, median: sorted[Math.floor(sorted.length / 2)]!, max: sorted[sorted.length - 1]! };
    };
    const line = (name: string, ms: number[]) => {
      const st = stats(ms);
      console.log(`${name.padEnd(50)} ${String(ms.length).padStart(4)} studies  ${st.mean.toFixed(1).padStart(6)} ms/study mean  ${st.median.toFixed(1).padStart(6)} median  ${st.max.toFixed(1).padStart(6)} max`);
    };
    const driver = new XnatArchiveDriver({ url: xnat.url, project: "BENCH1", credentials: { username: "bench", password: "bench-pw" } });
    const client = await XnatClient.connect({ url: xnat.url, username: "bench", password: "bench-pw", heartbeat: false });
    const cookie = `JSESSIONID=${client.transport.sessionId}`;
    const get = async (p: string) => {
      const res = await fetch(`${xnat.url}${p}`, { headers: { Cookie: cookie } });
      if (res.status !== 200) throw new Error(`baseline listing failed: ${res.status}`);
      return res.json() as Promise<{ items?: Array<{ children: Array<{ field: string; items: Array<{ data_fields: { ID: string } }> }> }> }>;
    };
    await driver.verify(studies[0]!); // the session is opened outside the timings
    const bare: number[] = [];
    const atrium: number[] = [];
    let noted = 0;
    let sentBytes = 0;
    let heldBytes = 0;
    for (const study of studies) {
      let t0 = performance.now();
      const exp = await get(`/data/projects/BENCH1/experiments/${encodeURIComponent(study.experimentLabel)}?format=json`);
      const scans = exp.items?.[0]?.children.find((c) => c.field === "scans/scan")?.items ?? [];
      for (const sc of scans) await get(`/data/projects/BENCH1/experiments/${encodeURIComponent(study.experimentLabel)}/scans/${sc.data_fields.ID}/files?format=json`);
      bare.push(performance.now() - t0);
      t0 = performance.now();
      const v = await driver.verify(study);
      atrium.push(performance.now() - t0);
      if (!v.ok) throw new Error(`verification failed: ${v.detail}`);
      if (v.note) noted++;
      sentBytes += v.expected.bytes;
      heldBytes += v.found.bytes;
    }
    console.log("");
    line("baseline: bare GETs of experiment + file listings", bare);
    line("atrium verify (SOP Instance UIDs, counts, sizes)", atrium);
    console.log(`  all ${N} verified; ${noted} with a note (XNAT re-encoded: ${heldBytes} bytes held for ${sentBytes} sent)\n`);
    await driver.close();
    await client.close();
  }
  await archiveRun(`atrium archive → XNAT test server, x${C}`, "xnat", C);
  await archiveRun("atrium archive → local archive, seq", "local", 1);
  await archiveRun(`atrium archive → local archive, x${C}`, "local", C);
  console.log(`\nXNAT experiments created: ${xnat.experiments.size} (${N} baseline + ${2 * N} archived)`);
} catch (err) {
  console.error(`benchmark failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await xnat.close();
  setDbHandle(undefined);
  await handle.close();
  await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await admin.end();
  await rm(dataDir, { recursive: true, force: true });
}
