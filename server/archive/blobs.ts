// Reading stored files of the local archive for downloads. Interim: the archive's blob store
// (lib/blob) keeps each blob as a file under <data dir>/blobs/<key>; this opens it there.
import { createReadStream } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { dataDir } from "@/lib/config";

export function openArchiveBlob(key: string): Readable {
  if (!/^[A-Za-z0-9._/-]+$/.test(key) || key.split("/").some((p) => p === ".." || p === "")) throw new Error("invalid blob key");
  return createReadStream(path.join(dataDir(), "blobs", key));
}
