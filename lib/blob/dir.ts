// The directory blob store: a blob is the file <root>/<key>. A put writes to <root>/.tmp/, hashing
// as it writes, fsyncs the file, renames it into place and fsyncs the directory, so a crash leaves
// either the old blob or the new one (and at worst a stray temporary file, removed on the next
// start by cleanTemp()).
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { assertBlobKey, assertBlobPrefix, BlobNotFoundError, type BlobData, type BlobPutResult, type BlobRange, type BlobStat, type BlobStore } from "./store";

export interface DirBlobStoreOptions {
  /** The directory holding the blobs (created when missing). */
  root: string;
  /** fsync files and directories on put (default true; benchmarks may compare without). */
  fsync?: boolean;
}

const TMP = ".tmp";
const CHUNK = 1024 * 1024;

function isNotFound(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch (e) {
    // Some filesystems refuse fsync on a directory (EINVAL/EISDIR); the rename is then as durable as they allow.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EISDIR" && code !== "EPERM") throw e;
  } finally {
    await fh?.close();
  }
}

async function* chunksOf(data: BlobData): AsyncIterable<Uint8Array> {
  if (Buffer.isBuffer(data) || data instanceof Uint8Array) {
    yield data;
    return;
  }
  yield* data as AsyncIterable<Uint8Array>;
}

function checkRange(range: BlobRange | undefined): void {
  if (!range) return;
  if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start - 1) {
    throw new RangeError("A blob range is start ≤ end + 1, both non-negative integers.");
  }
}

export function createDirBlobStore(opts: DirBlobStoreOptions): BlobStore {
  const root = path.resolve(opts.root);
  const tmpDir = path.join(root, TMP);
  const doSync = opts.fsync !== false;
  let ready: Promise<void> | undefined;
  // On first use: create the root, and (in the background) remove temporary files that interrupted
  // puts left more than an hour ago (a put in progress keeps touching its file).
  const ensureRoot = () =>
    (ready ??= mkdir(tmpDir, { recursive: true }).then(() => {
      void cleanDirBlobTemp(root).catch(() => undefined);
    }));
  const fileOf = (key: string) => path.join(root, ...assertBlobKey(key).split("/"));

  async function writeTemp(data: BlobData): Promise<{ tmp: string; size: number; sha256: string }> {
    await ensureRoot();
    const tmp = path.join(tmpDir, `${Date.now().toString(36)}-${randomBytes(8).toString("hex")}`);
    const fh = await open(tmp, "wx", 0o640);
    const hash = createHash("sha256");
    let size = 0;
    try {
      for await (const chunk of chunksOf(data)) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        hash.update(buf);
        let off = 0;
        while (off < buf.length) {
          const { bytesWritten } = await fh.write(buf, off, buf.length - off);
          off += bytesWritten;
        }
        size += buf.length;
      }
      if (doSync) await fh.sync();
    } catch (e) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    await fh.close();
    return { tmp, size, sha256: hash.digest("hex") };
  }

  async function commit(tmp: string, key: string): Promise<void> {
    const dest = fileOf(key);
    const dir = path.dirname(dest);
    for (let attempt = 0; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true });
        await rename(tmp, dest);
        break;
      } catch (e) {
        // A concurrent delete may have removed the (then empty) directory between mkdir and rename.
        if (attempt < 3 && isNotFound(e)) continue;
        await unlink(tmp).catch(() => undefined);
        throw e;
      }
    }
    if (doSync) await fsyncDir(dir);
  }

  async function put(key: string, data: BlobData): Promise<BlobPutResult> {
    assertBlobKey(key);
    const { tmp, size, sha256 } = await writeTemp(data);
    await commit(tmp, key);
    return { key, size, sha256 };
  }

  async function statOf(key: string): Promise<BlobStat | null> {
    try {
      const s = await stat(fileOf(key));
      return s.isFile() ? { key, size: s.size, modifiedAt: s.mtime } : null;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async function* walk(dir: string, rel: string, prefix: string): AsyncIterable<BlobStat> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const ent of entries) {
      if (ent.name.startsWith(".")) continue;
      const key = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) {
        // Descend only where keys with the prefix can be.
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* walk(path.join(dir, ent.name), key, prefix);
      } else if (ent.isFile() && key.startsWith(prefix)) {
        const s = await statOf(key);
        if (s) yield s;
      }
    }
  }

  return {
    kind: "dir",
    put,
    async putFile(key, filePath) {
      return put(key, createReadStream(filePath, { highWaterMark: CHUNK }));
    },
    async get(key, range) {
      checkRange(range);
      const file = fileOf(key);
      // Open first, so a missing blob rejects here rather than erroring the stream later.
      let fh: FileHandle;
      try {
        fh = await open(file, "r");
      } catch (e) {
        if (isNotFound(e)) throw new BlobNotFoundError(key);
        throw e;
      }
      if (range && range.end < range.start) {
        await fh.close();
        const { Readable } = await import("node:stream");
        return Readable.from([]);
      }
      return fh.createReadStream({ highWaterMark: CHUNK, ...(range ? { start: range.start, end: range.end } : {}), autoClose: true }) as unknown as Readable;
    },
    async read(key, range) {
      checkRange(range);
      const file = fileOf(key);
      try {
        if (!range) return await readFile(file);
        const fh = await open(file, "r");
        try {
          const len = Math.max(0, range.end - range.start + 1);
          const out = Buffer.allocUnsafe(len);
          let got = 0;
          while (got < len) {
            const { bytesRead } = await fh.read(out, got, len - got, range.start + got);
            if (bytesRead <= 0) break;
            got += bytesRead;
          }
          return got === len ? out : out.subarray(0, got);
        } finally {
          await fh.close();
        }
      } catch (e) {
        if (isNotFound(e)) throw new BlobNotFoundError(key);
        throw e;
      }
    },
    stat: statOf,
    async delete(key) {
      const file = fileOf(key);
      try {
        await unlink(file);
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
      // Remove directories left empty, up to the root (best effort: a concurrent put may refill one).
      let dir = path.dirname(file);
      while (dir.startsWith(root + path.sep) && dir !== root) {
        try {
          await rmdir(dir);
        } catch {
          break;
        }
        dir = path.dirname(dir);
      }
      return true;
    },
    list(prefix) {
      assertBlobPrefix(prefix);
      return walk(root, "", prefix);
    },
    localPath(key) {
      return fileOf(key);
    },
  };
}

/** Removes temporary files older than `olderThanMs` left by interrupted puts. */
export async function cleanDirBlobTemp(root: string, olderThanMs = 3_600_000): Promise<number> {
  const dir = path.join(path.resolve(root), TMP);
  let n = 0;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const f = path.join(dir, name);
    try {
      const s = await stat(f);
      if (Date.now() - s.mtimeMs > olderThanMs) {
        await rm(f, { force: true });
        n++;
      }
    } catch {
      // gone already
    }
  }
  return n;
}
