// Streaming DICOM zip for XNAT's import service (import-handler=DICOM-zip), built with yazl.
//
// XNAT reads the upload with java.util.zip.ZipInputStream, which refuses STORED entries that
// use a trailing data descriptor ("only DEFLATED entries can have EXT descriptor"). yazl writes a
// data descriptor for every streamed entry, so streamed entries are always deflated (level 1 by
// default: fast, DICOM pixel data gains little from more). Level 0 (store) is supported by
// reading each file into memory first, so that its sizes and CRC are in the local header.
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
  /** 1–9 deflate (streamed); 0 = store (each file is read into memory). Default 1. */
  compressionLevel?: number;
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
  const level = options.compressionLevel ?? 1;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new TypeError("compressionLevel must be an integer 0–9");
  const names = entryNames(entries);
  const zip = new yazl.ZipFile();
  const mtime = new Date(Date.UTC(2000, 0, 1)); // fixed: the same entries give the same zip
  const out = zip.outputStream as Readable;

  const add = async () => {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const name = names[i]!;
      if (level === 0) {
        const buf = "data" in e ? Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength) : await readFile(e.path);
        zip.addBuffer(buf, name, { compress: false, mtime });
      } else if ("data" in e) {
        zip.addBuffer(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength), name, { compressionLevel: level, mtime });
      } else {
        const p = e.path;
        zip.addReadStreamLazy(name, { compressionLevel: level, mtime, size: e.size }, (cb) => cb(null, createReadStream(p)));
      }
    }
    zip.end();
  };
  add().catch((err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))));
  zip.on("error", (err: Error) => out.destroy(err));

  let produced = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      produced += chunk.length;
      options.onProgress?.(produced);
      cb(null, chunk);
    },
  });
  out.on("error", (err) => counter.destroy(err));
  out.pipe(counter);
  return Readable.toWeb(counter) as unknown as ReadableStream<Uint8Array>;
}
