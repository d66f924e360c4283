// Reading stored files of the local archive for downloads: the archive's blob store (lib/blob).
import type { Readable } from "node:stream";
import { archiveBlobStore } from "@/lib/blob";

export function openArchiveBlob(key: string): Promise<Readable> {
  return archiveBlobStore().get(key);
}
