// The blob store contract: where Atrium keeps files (the local archive, later staging and logs) behind an
// interface small enough for S3-compatible storage too. Keys are relative, slash-separated paths
// of safe characters (see blobKeySchema); a key never holds PHI (callers build keys from
// de-identified UIDs and ids only).
//
// Semantics every implementation keeps:
// - put is atomic: a reader sees either the old blob, the new one, or nothing, never a partial
//   file; when put resolves the bytes are durable (fsync for the directory store).
// - put returns the size and SHA-256 of what was stored, computed while writing.
// - get streams (optionally a byte range, for frames and bulk data) and fails with
//   BlobNotFoundError when the key does not exist.
import type { Readable } from "node:stream";
import { z } from "zod";

export interface BlobPutResult {
  key: string;
  size: number;
  /** Hex SHA-256 of the stored bytes. */
  sha256: string;
}

export interface BlobStat {
  key: string;
  size: number;
  modifiedAt: Date;
}

export interface BlobRange {
  /** First byte (inclusive). */
  start: number;
  /** Last byte (inclusive), as in HTTP ranges and S3. */
  end: number;
}

export type BlobData = Buffer | Uint8Array | Readable | AsyncIterable<Uint8Array>;

export interface BlobStore {
  /** "dir" for the directory store; "s3" when an S3-compatible store is added. */
  readonly kind: string;
  /** Stores `data` under `key` atomically and durably (replacing any blob there). */
  put(key: string, data: BlobData): Promise<BlobPutResult>;
  /** Copies a local file into the store (the directory store does it without buffering). */
  putFile(key: string, filePath: string): Promise<BlobPutResult>;
  /** The blob's bytes (or a range of them) as a stream. Rejects with BlobNotFoundError. */
  get(key: string, range?: BlobRange): Promise<Readable>;
  /** The blob's bytes (or a range of them) in memory. Rejects with BlobNotFoundError. */
  read(key: string, range?: BlobRange): Promise<Buffer>;
  /** Size and modification time, or null when there is no such blob. */
  stat(key: string): Promise<BlobStat | null>;
  /** Removes the blob; true when it existed. */
  delete(key: string): Promise<boolean>;
  /** Every blob whose key starts with `prefix` ("" for all), in key order. */
  list(prefix: string): AsyncIterable<BlobStat>;
  /**
   * A local file path holding the blob, when the store has one (the directory store), for
   * random access without copying; null for remote stores (callers then use read()).
   */
  localPath(key: string): string | null;
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No blob stored under this key.`);
    this.name = "BlobNotFoundError";
  }
}

export class BlobKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BlobKeyError";
  }
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** A blob key: 1–1024 characters, segments of [A-Za-z0-9._-] separated by "/", none empty, none starting with ".". */
export const blobKeySchema = z
  .string()
  .min(1, "A blob key is not empty.")
  .max(1024, "A blob key is at most 1024 characters.")
  .refine((k) => k.split("/").every((s) => SEGMENT.test(s)), {
    message: 'A blob key is segments of letters, digits, ".", "_" and "-" separated by "/" (no empty segment, none starting with ".").',
  });

export function assertBlobKey(key: string): string {
  const r = blobKeySchema.safeParse(key);
  if (!r.success) throw new BlobKeyError(r.error.issues[0]!.message);
  return key;
}

/** A listing prefix: "" or the start of a key (it may end inside a segment or with "/"). */
export function assertBlobPrefix(prefix: string): string {
  if (prefix === "") return prefix;
  const segs = prefix.split("/");
  const last = segs.pop()!;
  if (prefix.length > 1024 || !segs.every((s) => SEGMENT.test(s)) || !(last === "" || SEGMENT.test(last))) {
    throw new BlobKeyError('A blob prefix is the start of a key: segments of letters, digits, ".", "_" and "-" separated by "/".');
  }
  return prefix;
}
