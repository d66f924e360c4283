// Streaming DICOM zip for XNAT's import service (import-handler=DICOM-zip), built with yazl.
//
// XNAT reads the upload with java.util.zip.ZipInputStream, which refuses STORED entries that
// use a trailing data descriptor ("only DEFLATED entries can have EXT descriptor"), and yazl
// writes a data descriptor for every entry it streams. So:
// - level 0 (store, the default): each file is read whole and added as a buffer, so that its
//   sizes and CRC are in the local header; files are fed one after the other as the upload
//   consumes them, so memory stays bounded (maxBufferedBytes, default 64 MiB, or one file).
// - levels 1–9 (deflate): files are streamed from disk with a data descriptor, which
//   ZipInputStream accepts for deflated entries. DICOM pixel data shrinks to about half, at a CPU
//   cost (about 30 MB/s per core at level 1 here): worth it on slow links only.
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import yazl from "yazl";

export type DicomZipEntry =
  /** A file on disk (read lazily, one at a time). `size` lets the manifest count bytes without a stat. */
  | { path: string; size: number; name?: string }
  /** Bytes already in memory. */
  | { data: Uint8Array; name?: string };

export interface DicomZipOptions {
  /** 0 = store (default); 1–9 = deflate. */
  compressionLevel?: number;
  /** Stored entries: how many bytes may wait ahead of the consumer. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** Called with the number of zip bytes produced so far. */
  onProgress?: (zipBytes: number) => void;
}

export interface DicomZipManifest {
  files: number;
  /** Sum of the uncompressed file sizes: what XNAT should hold afterwards. */
  bytes: number;
}

/** The names used inside the zip: the caller's, or a neutral counter (never a sender's file name). */
export function entryNames(entries: readonly DicomZipEntry[]): string[] {
  const seen = new Set<string>();
  return entries.map((e, i) => {
    const name = e.name ?? `${String(i + 1).padStart(6, "0")}.dcm`;
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(name) || name.split("/").some((p) => p === ".." || p === ".")) {
      throw new TypeError(`zip entry ${i}: name must be a relative path of letters, digits, '.', '_' and '-'`);
    }
    if (seen.has(name)) throw new TypeError(`zip entry ${i}: duplicate name`);
    seen.add(name);
    return name;
  });
}

export function manifestOf(entries: readonly DicomZipEntry[]): DicomZipManifest {
  let bytes = 0;
  for (const e of entries) bytes += "data" in e ? e.data.byteLength : e.size;
  return { files: entries.length, bytes };
}

/**
 * A fresh zip stream of the entries. Call again for each attempt: a stream can be sent once.
 * Returned as a web ReadableStream, ready to be a fetch body.
 */
export function dicomZipStream(entries: readonly DicomZipEntry[], options: DicomZipOptions = {}): ReadableStream<Uint8Array> {
  const level = options.compressionLevel ?? 0;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new TypeError("compressionLevel must be an integer 0–9");
  const windowBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
  const names = entryNames(entries);
  const zip = new yazl.ZipFile();
  const mtime = new Date(Date.UTC(2000, 0, 1)); // fixed: the same entries give the same zip
  const out = zip.outputStream as Readable;

  // Bytes the consumer has taken so far, and callers waiting for it to grow.
  let produced = 0;
  let stopped = false;
  let waiters: Array<() => void> = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      produced += chunk.length;
      options.onProgress?.(produced);
      cb(null, chunk);
      wake();
    },
  });
  counter.on("close", () => {
    stopped = true;
    wake();
  });

  const add = async () => {
    let queued = 0;
    for (let i = 0; i < entries.length && !stopped; i++) {
      const e = entries[i]!;
      const name = names[i]!;
      if (level === 0) {
        while (!stopped && queued - produced > windowBytes) await new Promise<void>((r) => waiters.push(r));
        if (stopped) return;
        const buf = "data" in e ? Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength) : await readFile(e.path);
        zip.addBuffer(buf, name, { compress: false, mtime });
        queued += buf.length;
      } else if ("data" in e) {
        zip.addBuffer(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength), name, { compressionLevel: level, mtime });
      } else {
        const p = e.path;
        zip.addReadStreamLazy(name, { compressionLevel: level, mtime, size: e.size }, (cb) => cb(null, createReadStream(p)));
      }
    }
    if (!stopped) zip.end();
  };
  add().catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  zip.on("error", (err: Error) => out.destroy(err));
  out.on("error", (err) => counter.destroy(err));
  out.pipe(counter);
  return Readable.toWeb(counter) as unknown as ReadableStream<Uint8Array>;
}
