// Worker-thread side of `atrium deid --jobs N` (see pool.ts). Receives batches of input paths,
// de-identifies them with the same engine as the main thread and returns their results. Subjects
// (pseudonyms, date offsets) and output-path claims are answered by the main thread, so every
// worker agrees on them; UIDs are derived locally from the project's salt (deterministic).
import { parentPort, workerData } from "node:worker_threads";
import { buildConfig, processFile, type BatchSpec, type FileResult } from "./batch";
import { deriveUid, LookupMissError, type PseudonymStore, type SubjectPseudonym } from "./pseudonyms";

export interface WorkerItem {
  file: string;
  index: number;
}
export type ToWorker = { type: "files"; items: WorkerItem[] } | { type: "rpc"; id: number; ok?: unknown; lookupMiss?: boolean; error?: string };
export type FromWorker =
  | { type: "ready" }
  | { type: "results"; items: { index: number; result: FileResult }[] }
  | { type: "rpc"; id: number; op: "subject" | "claim"; args: string[] }
  | { type: "fatal"; message: string };

const port = parentPort!;
const { spec, outDir } = workerData as { spec: BatchSpec; outDir: string };
let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
function rpc<T>(op: "subject" | "claim", args: string[]): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    port.postMessage({ type: "rpc", id, op, args } satisfies FromWorker);
  });
}

const store: PseudonymStore = {
  subject: (projectId, patientKey) => rpc<SubjectPseudonym>("subject", [projectId, patientKey]),
  async mapUids(_projectId, uids) {
    return new Map(uids.map((u) => [u, deriveUid(spec.salt, u)]));
  },
};
const cfg = buildConfig(spec, store);
const claim = (rel: string) => rpc<boolean>("claim", [rel]);

let queue: Promise<void> = Promise.resolve();
port.on("message", (m: ToWorker) => {
  if (m.type === "rpc") {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error === undefined) p.resolve(m.ok);
    else p.reject(m.lookupMiss ? new LookupMissError() : new Error(m.error));
    return;
  }
  if (m.type === "files") {
    // Batches are processed one after another (results keep their input index).
    queue = queue.then(async () => {
      const items: { index: number; result: FileResult }[] = [];
      for (const it of m.items) items.push({ index: it.index, result: await processFile(it.file, outDir, cfg, claim) });
      port.postMessage({ type: "results", items } satisfies FromWorker);
    });
  }
});
port.postMessage({ type: "ready" } satisfies FromWorker);
