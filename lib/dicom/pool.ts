// The worker pool of `atrium deid --jobs N`: started once per run, fed batches of input paths
// (a few files per message, two batches in flight per worker so no worker waits for the main
// thread), answering the workers' subject and output-claim requests from the main thread.
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
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
  run(files: string[], onResult: (r: FileResult, index: number) => void): Promise<void>;
  close(): Promise<void>;
}

/** The worker script: a pre-bundled .mjs when possible (fast), else the tsx entry. */
export async function workerEntry(): Promise<{ file: string; loader: string }> {
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
    const w = new Worker(entry.file, { workerData: { spec, outDir } });
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
      const ok = m.op === "subject" ? await h.subject(m.args[0], m.args[1]) : h.claim(m.args[0]);
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
    run(files, onResult) {
      return new Promise<void>((resolve, reject) => {
        let next = 0;
        let outstanding = 0;
        const chunk = () => Math.max(1, Math.min(16, Math.floor((files.length - next) / (workers.length * 3))));
        const feed = (w: Worker) => {
          if (next >= files.length) return;
          const n = chunk();
          const items: WorkerItem[] = [];
          for (let k = 0; k < n && next < files.length; k++, next++) items.push({ file: files[next], index: next });
          outstanding++;
          w.postMessage({ type: "files", items } satisfies ToWorker);
        };
        onFailure = reject;
        onMessage = (w, m) => {
          if (m.type !== "results") return;
          outstanding--;
          for (const it of m.items) onResult(it.result, it.index);
          feed(w);
          if (outstanding === 0 && next >= files.length) resolve();
        };
        for (const w of workers) {
          feed(w);
          feed(w);
        }
        if (outstanding === 0) resolve();
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
