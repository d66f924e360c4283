// Archive throughput to the XNAT test server: importDicomZip (zip streaming, import service,
// DICOM parsing on the server side, verification) in MB/s of DICOM and studies/min, sequential and
// concurrent, stored (level 0, the default) and deflated (levels 1 and 6). Baseline in the same run: the same zip
// bytes POSTed with a bare fetch (no client logic, no zip building), and building the zip alone.
//
// Run: npx tsx bench/xnat-archive.ts [--studies 20] [--concurrency 4]
import { statSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { XnatClient, dicomZipStream, type DicomZipEntry } from "@/lib/xnat";
import { startXnatTestServer } from "@/tests/xnat/server";

import { SAMPLES_DIR as SAMPLES } from "../lib/samples";
const STUDY = [
  "dwv__bbmri-53323131.dcm",
  "dwv__bbmri-53323275.dcm",
  "dwv__bbmri-53323419.dcm",
  "dwv__bbmri-53323563.dcm",
  "dwv__bbmri-53323707.dcm",
  "dwv__bbmri-53323851.dcm",
];

const { values } = parseArgs({
  options: { studies: { type: "string", default: "20" }, concurrency: { type: "string", default: "4" } },
});
const N = Number(values.studies);
const C = Number(values.concurrency);

const files: DicomZipEntry[] = STUDY.map((f) => {
  const p = path.join(SAMPLES, f);
  return { path: p, size: statSync(p).size };
});
const studyBytes = files.reduce((n, f) => n + ("size" in f ? f.size : 0), 0);

const server = await startXnatTestServer({ users: [{ login: "bench", password: "bench-pw" }], keepFileData: false });
server.addProject("BENCH", { owners: ["bench"] });
const xnat = await XnatClient.connect({ url: server.url, username: "bench", password: "bench-pw", heartbeat: false });

function report(name: string, studies: number, ms: number) {
  const mb = (studies * studyBytes) / 1e6;
  console.log(
    `${name.padEnd(52)} ${String(studies).padStart(4)} studies  ${(mb / (ms / 1000)).toFixed(1).padStart(6)} MB/s  ${((studies / ms) * 60_000).toFixed(0).padStart(6)} studies/min  ${(ms / studies).toFixed(1).padStart(7)} ms/study`,
  );
}

let seq = 0;
async function archiveOne(level: number): Promise<void> {
  const id = `B${++seq}`;
  const r = await xnat.importDicomZip({ project: "BENCH", subject: id, session: `${id}_MR`, files, compressionLevel: level });
  const v = await xnat.verifyExperiment({ project: "BENCH", experiment: r.experiment!.experiment }, { files: files.length, bytes: studyBytes });
  if (!v.ok) throw new Error(`verification failed: ${v.problems.join("; ")}`);
}

async function run(name: string, level: number, concurrency: number) {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < N) {
        next++;
        await archiveOne(level);
      }
    }),
  );
  report(name, N, performance.now() - t0);
}

console.log(`XNAT archive benchmark: study = ${files.length} MR instances, ${(studyBytes / 1e6).toFixed(2)} MB; test server in-process on 127.0.0.1`);
console.log(`node ${process.version}, ${N} studies per row\n`);

// Baselines
{
  const t0 = performance.now();
  let zipBytes = 0;
  for (let i = 0; i < N; i++) zipBytes += (await new Response(dicomZipStream(files, { compressionLevel: 1 })).arrayBuffer()).byteLength;
  report("baseline: build zip only (deflate level 1)", N, performance.now() - t0);
  console.log(`${"".padEnd(52)} zip/raw size ratio ${(zipBytes / (N * studyBytes)).toFixed(3)}`);
}
{
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await new Response(dicomZipStream(files)).arrayBuffer();
  report("baseline: build zip only (stored)", N, performance.now() - t0);
}
{
  const zip = Buffer.from(await new Response(dicomZipStream(files)).arrayBuffer());
  const cookie = `JSESSIONID=${xnat.transport.sessionId}`;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const res = await fetch(
      `${server.url}/data/services/import?import-handler=DICOM-zip&project=BENCH&subject=RAW${i}&session=RAW${i}_MR&dest=/archive/projects/BENCH&prevent_anon=true`,
      { method: "POST", body: zip, headers: { Cookie: cookie, "Content-Type": "application/zip" } },
    );
    if (res.status !== 200) throw new Error(`baseline upload failed: ${res.status}`);
    await res.arrayBuffer();
  }
  report("baseline: bare fetch POST of a prebuilt stored zip", N, performance.now() - t0);
}

await run("client: importDicomZip+verify, stored, seq", 0, 1);
await run("client: importDicomZip+verify, deflate 1, seq", 1, 1);
await run("client: importDicomZip+verify, deflate 6, seq", 6, 1);
await run(`client: importDicomZip+verify, stored, x${C}`, 0, C);

console.log(`\nexperiments on the server: ${server.experiments.size}; client requests ${xnat.transport.stats.requests}, retries ${xnat.transport.stats.retries}`);
await xnat.close();
await server.close();
