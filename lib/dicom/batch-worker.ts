// Worker-thread side of `atrium deid --jobs N` (see pool.ts). Receives batches of input paths,
// de-identifies them with the same engine as the main thread and returns their results. Subjects
// (pseudonyms, date offsets) and output-path claims are answered by the main thread, so every
// worker agrees on them; UIDs are derived locally from the project's salt (deterministic).
import { parentPort, workerData } from "node:worker_threads";
import { buildConfig, prepareFile, type BatchSpec, type FileResult, type PreparedFile } from "./batch";
import { deriveUid, LookupMissError, type PseudonymStore, type SubjectPseudonym } from "./pseudonyms";

export interface WorkerItem {
  file: string;
  index: number;
}
export type ToWorker = { type: "files"; items: WorkerItem[] } | { type: "rpc"; id: number; ok?: unknown; lookupMiss?: boolean; error?: string };
export type FromWorker =
  | { type: "ready" }
  | { type: "results"; items: { index: number; result: FileResult }[] }
  | { type: "rpc"; id: number; op: "subject"; args: string[] }
  | { type: "rpc"; id: number; op: "claim"; args: string[] }
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

// Subjects are cached per patient key: the main thread's answer never changes within a run.
const subjects = new Map<string, Promise<SubjectPseudonym>>();
const store: PseudonymStore = {
  subject(projectId, patientKey) {
    const k = `${projectId}\0${patientKey}`;
    let p = subjects.get(k);
    if (!p) {
      p = rpc<SubjectPseudonym>("subject", [projectId, patientKey]);
      subjects.set(k, p);
      p.catch(() => subjects.delete(k));
    }
    return p;
  },
  async mapUids(_projectId, uids) {
    return new Map(uids.map((u) => [u, deriveUid(spec.salt, u)]));
  },
};
const cfg = buildConfig(spec, store);

/** Input bytes a worker holds while waiting for its output-path claims. */
const MAX_HELD = 64 * 1024 * 1024;

/** Claims the prepared files' output paths in one round trip, then writes or reports them. */
async function flush(prepared: { index: number; p: PreparedFile }[], out: { index: number; result: FileResult }[]): Promise<void> {
  const rels = prepared.filter((x) => x.p.rel).map((x) => x.p.rel!);
  const ok = rels.length ? await rpc<boolean[]>("claim", rels) : [];
  let k = 0;
  for (const x of prepared) {
    try {
      out.push({ index: x.index, result: x.p.rel ? (ok[k++] ? x.p.commit() : x.p.duplicate()) : x.p.commit() });
    } finally {
      x.p.close();
    }
  }
  prepared.length = 0;
}

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
      const prepared: { index: number; p: PreparedFile }[] = [];
      let held = 0;
      for (const it of m.items) {
        const p = await prepareFile(it.file, outDir, cfg);
        prepared.push({ index: it.index, p });
        held += p.heldBytes;
        if (held > MAX_HELD) {
          await flush(prepared, items);
          held = 0;
        }
      }
      await flush(prepared, items);
      port.postMessage({ type: "results", items } satisfies FromWorker);
    });
  }
});
port.postMessage({ type: "ready" } satisfies FromWorker);
