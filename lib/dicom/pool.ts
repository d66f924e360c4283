// The worker pool of `atrium deid --jobs N`: started once per run, fed batches of input paths
// (a few files per message, two batches in flight per worker so no worker waits for the main
// thread), answering the workers' subject and output-claim requests from the main thread.
import { Worker } from "node:worker_threads";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { BatchSpec, FileResult } from "./batch";
import type { FromWorker, ToWorker, WorkerItem } from "./batch-worker";
import { LookupMissError, type SubjectPseudonym } from "./pseudonyms";

export interface PoolHandlers {
  subject(projectId: string, patientKey: string): Promise<SubjectPseudonym>;
  claim(relPath: string): boolean;
}

export interface Pool {
  /** Milliseconds from the first `new Worker` until every worker reported ready. */
  startupMs: number;
  /** How the workers were loaded ("bundle" or "tsx"). */
  loader: string;
  /** Runs the files through the workers and, with `local`, through the main thread as well. */
  run(files: string[], onResult: (r: FileResult, index: number) => void, local?: (file: string, index: number) => Promise<FileResult>): Promise<void>;
  close(): Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (/\.(ts|mjs|json)$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

/**
 * The worker bundled into one ES module with esbuild (which tsx already depends on), cached in a
 * private per-user folder of os.tmpdir() under a hash of the engine's sources, esbuild's and Node's versions: a worker then
 * starts in well under 100 ms instead of ~1 s compiling TypeScript through tsx. Any failure falls
 * back to the tsx entry.
 */
export async function bundledWorker(): Promise<string> {
  const req = createRequire(import.meta.url);
  const tsxPkg = req.resolve("tsx/package.json");
  const esbuild = createRequire(tsxPkg)("esbuild") as typeof import("esbuild");
  const h = createHash("sha256").update(`${esbuild.version}\0${process.version}\0`);
  for (const f of sourceFiles(here)) h.update(path.relative(here, f)).update("\0").update(readFileSync(f)).update("\0");
  // A per-user directory only this user can write to: a cached module is code we will run.
  const uid = process.getuid?.() ?? 0;
  const dir = path.join(tmpdir(), `atrium-deid-worker-${uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const d = statSync(dir);
  if (!d.isDirectory() || d.uid !== uid || (d.mode & 0o022) !== 0) throw new Error("worker cache directory is not private");
  const out = path.join(dir, `worker-${h.digest("hex").slice(0, 24)}.mjs`);
  if (existsSync(out)) {
    const f = statSync(out);
    if (f.uid === uid && (f.mode & 0o022) === 0) return out;
    throw new Error("cached worker is not private");
  }
  // The engine uses dcmjs only for its data dictionary (dictionary.ts); the bundle gets just that
  // table (tag, VR, keyword) instead of loading all of dcmjs (~150 ms) in every worker.
  const dcmjs = (await import("dcmjs")).default as unknown as { data: { DicomMetaDictionary: { nameMap: Record<string, { tag: string; vr: string; name: string }> } } };
  const nameMap: Record<string, { tag: string; vr: string; name: string }> = {};
  for (const [k, e] of Object.entries(dcmjs.data.DicomMetaDictionary.nameMap)) nameMap[k] = { tag: e.tag, vr: e.vr, name: e.name };
  const dictModule = `export default { data: { DicomMetaDictionary: { nameMap: ${JSON.stringify(nameMap)} } } };`;
  const r = await esbuild.build({
    entryPoints: [path.join(here, "batch-worker.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    write: false,
    logLevel: "silent",
    plugins: [
      {
        name: "externals",
        setup(b) {
          b.onResolve({ filter: /^dcmjs$/ }, () => ({ path: "dcmjs-dictionary", namespace: "atrium" }));
          b.onLoad({ filter: /.*/, namespace: "atrium" }, () => ({ contents: dictModule, loader: "js" }));
        },
      },
    ],
  });
  // import.meta.url in the bundle would point at the cache file: the profile table is read from
  // the engine's folder instead.
  const code = r.outputFiles[0].text.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(path.join(here, "profile.ts")).href));
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, code, { mode: 0o600 });
  renameSync(tmp, out);
  return out;
}

/** The worker script: a pre-bundled .mjs when possible (fast), else the tsx entry. */
export async function workerEntry(): Promise<{ file: string; loader: string }> {
  if (process.env.ATRIUM_DEID_WORKER_LOADER !== "tsx") {
    try {
      return { file: await bundledWorker(), loader: "bundle" };
    } catch {
      // fall through
    }
  }
  return { file: fileURLToPath(new URL("./batch-worker.mjs", import.meta.url)), loader: "tsx" };
}

export async function startPool(jobs: number, spec: BatchSpec, outDir: string, h: PoolHandlers): Promise<Pool> {
  const t0 = performance.now();
  const entry = await workerEntry();
  const workers: Worker[] = [];
  let onMessage: (w: Worker, m: FromWorker) => void = () => undefined;
  let onFailure: (e: Error) => void = () => undefined;
  const ready: Promise<void>[] = [];
  for (let i = 0; i < jobs; i++) {
    // A bundled worker needs no loader: do not inherit e.g. `--import tsx` (≈150 ms per worker).
    const w = new Worker(entry.file, { workerData: { spec, outDir }, ...(entry.loader === "bundle" ? { execArgv: [] } : {}) });
    workers.push(w);
    ready.push(
      new Promise<void>((resolve, reject) => {
        const first = (m: FromWorker) => {
          if (m.type === "ready") {
            w.off("message", first);
            resolve();
          }
        };
        w.on("message", first);
        w.once("error", reject);
      }),
    );
    w.on("message", (m: FromWorker) => {
      if (m.type === "rpc") {
        void answer(w, m);
        return;
      }
      onMessage(w, m);
    });
    w.on("error", (e) => onFailure(e as Error));
  }
  const answer = async (w: Worker, m: Extract<FromWorker, { type: "rpc" }>) => {
    try {
      const ok = m.op === "subject" ? await h.subject(m.args[0], m.args[1]) : m.args.map((rel) => h.claim(rel));
      w.postMessage({ type: "rpc", id: m.id, ok } satisfies ToWorker);
    } catch (e) {
      w.postMessage({ type: "rpc", id: m.id, error: "store", lookupMiss: e instanceof LookupMissError } satisfies ToWorker);
    }
  };
  await Promise.all(ready);
  const startupMs = performance.now() - t0;

  return {
    startupMs,
    loader: entry.loader,
    run(files, onResult, local) {
      return new Promise<void>((resolve, reject) => {
        let next = 0;
        let completed = 0;
        const lanes = workers.length + (local ? 1 : 0);
        const finish = (r: FileResult, i: number) => {
          onResult(r, i);
          if (++completed === files.length) resolve();
        };
        const chunk = () => Math.max(1, Math.min(16, Math.floor((files.length - next) / (lanes * 3))));
        const feed = (w: Worker) => {
          if (next >= files.length) return;
          const n = chunk();
          const items: WorkerItem[] = [];
          for (let k = 0; k < n && next < files.length; k++, next++) items.push({ file: files[next], index: next });
          w.postMessage({ type: "files", items } satisfies ToWorker);
        };
        onFailure = reject;
        onMessage = (w, m) => {
          if (m.type !== "results") return;
          feed(w);
          for (const it of m.items) finish(it.result, it.index);
        };
        if (files.length === 0) return resolve();
        for (const w of workers) {
          feed(w);
          feed(w);
        }
        if (local) {
          // The main thread is a lane too, one file at a time, yielding between files so that
          // the workers' requests are answered promptly.
          void (async () => {
            while (next < files.length) {
              const i = next++;
              finish(await local(files[i], i), i);
              await new Promise((r) => setImmediate(r));
            }
          })().catch(reject);
        }
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
