// Staging for the byte-stream ways in (STOW-RS parts, webhook pulls, browser uploads): a stream is
// written to <dataDir>/staging/<channel>/<uuid>.partial, hashed as it goes, checked to be DICOM,
// fsynced, renamed to .dcm and the directory fsynced — only then is it a StagedFile that may be
// recorded and acknowledged. Bad input leaves nothing behind. (C-STORE stages in lib/dicom-net/scp.)
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { NotDicomError, readPart10Info } from "@/lib/dicom-net/part10";
import type { StagedFile, ReceiveContext } from "./receive";

export { NotDicomError };

export class TooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`The file is larger than the limit of ${Math.round(limitBytes / 1024 / 1024)} MB. Send it by C-STORE, or ask your administrator to raise ATRIUM_MAX_INSTANCE_MB.`);
  }
}

/** Default largest single instance accepted over HTTP (STOW, upload, pulls). */
export const DEFAULT_MAX_INSTANCE_BYTES = 4 * 1024 * 1024 * 1024;

async function fsyncPath(p: string) {
  const fh = await open(p, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface StageOptions {
  maxBytes?: number;
}

/**
 * Writes `body` to staging and returns it once durable. Throws NotDicomError (the bytes are not a
 * DICOM file; message says why) or TooLargeError; in both cases nothing is left in staging.
 */
export async function stageStream(
  dataDir: string,
  channel: ReceiveContext["channel"],
  body: Readable | Buffer,
  opts: StageOptions = {},
): Promise<StagedFile> {
  const dir = path.join(dataDir, "staging", channel);
  mkdirSync(dir, { recursive: true });
  const id = randomUUID();
  const partial = path.join(dir, `${id}.partial`);
  const final = path.join(dir, `${id}.dcm`);
  const limit = opts.maxBytes ?? DEFAULT_MAX_INSTANCE_BYTES;
  const hash = createHash("sha256");
  let size = 0;
  let sink: ReturnType<typeof createWriteStream> | undefined;
  try {
    if (Buffer.isBuffer(body)) {
      if (body.length > limit) throw new TooLargeError(limit);
      hash.update(body);
      size = body.length;
      const fh = await open(partial, "wx", 0o640);
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } else {
      const meter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          if (size > limit) return cb(new TooLargeError(limit));
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      sink = createWriteStream(partial, { flags: "wx", mode: 0o640 });
      await pipeline(body, meter, sink);
      await fsyncPath(partial);
    }
    const info = await readPart10Info(partial);
    await rename(partial, final);
    await fsyncPath(dir);
    return {
      path: final,
      sizeBytes: size,
      sha256: hash.digest("hex"),
      sopClassUid: info.sopClassUid ?? null,
      sopInstanceUid: info.sopInstanceUid ?? null,
      transferSyntaxUid: info.transferSyntaxUid,
    };
  } catch (e) {
    // A sender that fails before the file is even open: the stream still creates it when its
    // open completes, so wait for it to close before removing what it wrote.
    if (sink && !sink.closed) await new Promise<void>((resolve) => sink!.once("close", () => resolve()));
    await rm(partial, { force: true });
    throw e;
  }
}
