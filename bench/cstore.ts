// C-STORE receive benchmark: DCMTK storescu sends the same N ≥ 1000 instances to Atrium's SCP
// (lib/dicom-net/scp.ts, onStored = no-op, files fsynced) and to DCMTK storescp (no fsync), in one run,
// interleaved (the order alternates from round to round). Prints inst/s and MB/s for both and the ratio.
// storescp runs bit-preserving (+B: the data set written as received, like Atrium's raw stream,
// not decoded and re-encoded).
//   npx tsx bench/cstore.ts [N=1000] [rounds=3]
// Sender: DCMTK storescu, TCP_NODELAY=1, one association, default proposal (+sd over the folder),
// loopback. The instances are copies of the single-frame uncompressed CT/MR samples with new SOP
// Instance UIDs (dcmodify -nb -gin).
import { spawn } from "node:child_process";
import { copyFile, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { readPart10Info } from "@/lib/dicom-net/part10";
import { startScp } from "@/lib/dicom-net/scp";
import { TS } from "@/lib/dicom-net/uids";

import { SAMPLES_DIR as SAMPLES } from "../lib/samples";
const N = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 3);
const env = { ...process.env, TCP_NODELAY: "1" };

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (out += d));
    c.on("error", reject);
    c.on("close", (code) => resolve({ code, out }));
  });
}

async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as import("node:net").AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), "atrium-bench-cstore-"));
  try {
    const corpus = path.join(work, "corpus");
    await (await import("node:fs/promises")).mkdir(corpus);
    const sources: string[] = [];
    for (const f of (await readdir(SAMPLES)).sort()) {
      try {
        const i = await readPart10Info(path.join(SAMPLES, f));
        const single = i.datasetSopClassUid === "1.2.840.10008.5.1.4.1.1.2" || i.datasetSopClassUid === "1.2.840.10008.5.1.4.1.1.4";
        if (single && (i.transferSyntaxUid === TS.ExplicitVRLittleEndian || i.transferSyntaxUid === TS.ImplicitVRLittleEndian) && !/multiframe/.test(f))
          sources.push(path.join(SAMPLES, f));
      } catch {
        // not DICOM
      }
    }
    const copies: string[] = [];
    for (let k = 0; k < N; k++) {
      const dst = path.join(corpus, `${String(k).padStart(5, "0")}.dcm`);
      await copyFile(sources[k % sources.length]!, dst);
      copies.push(dst);
    }
    for (let k = 0; k < copies.length; k += 200) {
      const r = await run("dcmodify", ["-nb", "-gin", ...copies.slice(k, k + 200)]);
      if (r.code !== 0) throw new Error(`dcmodify failed: ${r.out.slice(0, 500)}`);
    }
    let bytes = 0;
    for (const c of copies) bytes += (await stat(c)).size;
    console.log(`corpus: ${N} instances from ${sources.length} single-frame CT/MR samples, ${(bytes / 1e6).toFixed(1)} MB`);
    console.log(`sender: storescu (DCMTK 3.6.7), TCP_NODELAY=1, 1 association, default contexts, +sd folder, loopback; ${ROUNDS} rounds, order alternating; load ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores\n`);

    const storescu = (port: number, aec: string) => run("storescu", ["-aec", aec, "+sd", "127.0.0.1", String(port), corpus]);
    const results: Record<string, number[]> = { atrium: [], nofsync: [], storescp: [] };
    // CPU time of this process (event loop + libuv threads) per instance: steadier than wall time on a busy machine.
    const cpuMs: Record<string, number[]> = { atrium: [], nofsync: [] };

    const runAtrium = async (round: number) => {
      // Atrium SCP, no-op hook, staging on the same disk; with fsync (the product) and without
      for (const fsync of [true, false]) {
        const staging = path.join(work, `staging-${round}-${fsync}`);
        let stored = 0;
        const scp = await startScp({
          port: 0,
          host: "127.0.0.1",
          stagingDir: staging,
          fsync,
          acceptAssociation: async () => ({ accept: true }),
          onStored: async () => {
            stored++;
            return 0;
          },
        });
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const r = await storescu(scp.port, "ATRIUM");
        const secs = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        cpuMs[fsync ? "atrium" : "nofsync"]!.push((cpu.user + cpu.system) / 1000 / N);
        console.log(`fsync=${fsync} user ${(cpu.user / 1000 / N).toFixed(2)} sys ${(cpu.system / 1000 / N).toFixed(2)} ms/inst`);
        await scp.close();
        if (r.code !== 0 || stored !== N) throw new Error(`atrium run: storescu rc ${r.code}, stored ${stored}/${N}: ${r.out.slice(0, 300)}`);
        results[fsync ? "atrium" : "nofsync"]!.push(secs);
        await rm(staging, { recursive: true, force: true });
      }
    };
    const runStorescp = async (round: number) => {
      // DCMTK storescp
      const od = path.join(work, `storescp-${round}`);
      await (await import("node:fs/promises")).mkdir(od);
      const port = await freePort();
      const child = spawn("storescp", ["+B", "-od", od, "-aet", "STORESCP", String(port)], { env, stdio: "ignore" });
      await new Promise((res) => setTimeout(res, 300));
      const t0 = performance.now();
      const r = await storescu(port, "STORESCP");
      const secs = (performance.now() - t0) / 1000;
      child.kill("SIGTERM");
      const written = (await readdir(od)).length;
      if (r.code !== 0 || written !== N) throw new Error(`storescp run: storescu rc ${r.code}, written ${written}/${N}`);
      results.storescp!.push(secs);
      await rm(od, { recursive: true, force: true });
    };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which receiver goes first: neither always gets the cold (or the warm) slot.
      if (round % 2 === 0) {
        await runAtrium(round);
        await runStorescp(round);
      } else {
        await runStorescp(round);
        await runAtrium(round);
      }
    }

    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const line = (name: string, s: number) =>
      `${name.padEnd(46)} ${(N / s).toFixed(0).padStart(6)} inst/s ${(bytes / 1e6 / s).toFixed(1).padStart(7)} MB/s  (${s.toFixed(2)} s; runs: ${results[name.split(" ")[0]!]!.map((x) => x.toFixed(2)).join(", ")})`;
    const a = median(results.atrium!);
    const nf = median(results.nofsync!);
    const d = median(results.storescp!);
    console.log(line("atrium (raw stream + fsync)", a));
    console.log(line("nofsync atrium (fsync: false)", nf));
    console.log(line("storescp (DCMTK +B bit-preserving, no fsync)", d));
    console.log(`CPU per instance (Atrium process): ${median(cpuMs.atrium!).toFixed(2)} ms with fsync, ${median(cpuMs.nofsync!).toFixed(2)} ms without`);
    console.log(`\nratio atrium / storescp: ${(d / a).toFixed(2)} with fsync, ${(d / nf).toFixed(2)} without (inst/s; medians of ${ROUNDS} interleaved rounds)`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
