// The blob store: where Atrium keeps files (the local archive, later staging and logs) behind an
// interface that admits S3-compatible storage (lib/blob/store.ts); the directory implementation is
// lib/blob/dir.ts. archiveBlobStore() is the local archive's store: <ATRIUM_DATA_DIR>/archive.
import path from "node:path";
import { dataDir } from "@/lib/config";
import { createDirBlobStore } from "./dir";
import type { BlobStore } from "./store";

export * from "./store";
export { createDirBlobStore, cleanDirBlobTemp, type DirBlobStoreOptions } from "./dir";

/** The root of the local archive's directory store: <ATRIUM_DATA_DIR>/archive. */
export function archiveBlobRoot(): string {
  return path.join(dataDir(), "archive");
}

const stores = new Map<string, BlobStore>();

/** The local archive's blob store (one per root per process). */
export function archiveBlobStore(root = archiveBlobRoot()): BlobStore {
  let s = stores.get(root);
  if (!s) stores.set(root, (s = createDirBlobStore({ root })));
  return s;
}
