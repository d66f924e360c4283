// Byte sources the parser reads from: an in-memory Buffer, or an open file read on demand, so
// that pixel data (which may be gigabytes) is never held in memory.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

export interface ByteSource {
  readonly size: number;
  /** Bytes [offset, offset+length) clipped to the source; a view when possible. */
  readAt(offset: number, length: number): Buffer;
  close?(): void;
}

export class BufferSource implements ByteSource {
  constructor(readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length;
  }
  readAt(offset: number, length: number): Buffer {
    const start = Math.max(0, Math.min(offset, this.buf.length));
    return this.buf.subarray(start, Math.min(this.buf.length, start + Math.max(0, length)));
  }
}

export class FileSource implements ByteSource {
  private fd: number;
  readonly size: number;
  constructor(path: string) {
    this.fd = openSync(path, "r");
    this.size = fstatSync(this.fd).size;
  }
  readAt(offset: number, length: number): Buffer {
    const start = Math.max(0, Math.min(offset, this.size));
    const n = Math.min(this.size - start, Math.max(0, length));
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const r = readSync(this.fd, out, got, n - got, start + got);
      if (r <= 0) break;
      got += r;
    }
    return got === n ? out : out.subarray(0, got);
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Files at most this large are read in one go; larger ones are read on demand. */
export const WHOLE_FILE_LIMIT = 48 * 1024 * 1024;

/** Opens a file as a source: small files are read whole (one syscall), large ones lazily. */
export function openSource(path: string): ByteSource {
  const fs = new FileSource(path);
  if (fs.size <= WHOLE_FILE_LIMIT) {
    const buf = fs.readAt(0, fs.size);
    fs.close();
    return new BufferSource(buf);
  }
  return fs;
}
