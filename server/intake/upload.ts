// Browser upload: one DICOM file or one zip archive per request, streamed into staging, recorded
// (channel "upload", the browser session's batch id) and queued for de-identification before the
// answer. A zip is first written whole to a private temporary file (a zip's directory is at its
// end); its central directory is checked against the bounds (ATRIUM_UPLOAD_EXPANDED_MB per
// request, ATRIUM_UPLOAD_BATCH_MB per batch, ATRIUM_UPLOAD_MAX_RATIO: a refused archive stages
// nothing), then each file entry is streamed from it through stageStream: memory stays bounded,
// every entry is held to the instance size limit, and the archive is deleted before answering.
// Nothing that is not recorded stays in staging.
import { randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeWebReadableStream } from "node:stream/web";
import yauzl from "yauzl";
import type { PrismaClient } from "@/server/db/generated/client";
import { dataDir as configuredDataDir, maxInstanceBytes, uploadLimits } from "@/lib/config";
import { childLog } from "@/lib/log";
import { DicomParseError, parseDicom } from "@/lib/dicom/parse";
import { openSource } from "@/lib/dicom/source";
import {
  couldBeDicom,
  decideBatchRoom,
  decideZipExpansion,
  isIgnoredZipEntry,
  MAX_ZIP_ENTRIES,
  SNIFF_BYTES,
  uploadKindOf,
  type UploadResponse,
  type UploadResult,
} from "@/lib/intake/upload";
import { NotDicomError, stageStream, TooLargeError } from "./stage";
import { sweepZipSpool, ZIP_SPOOL_DIR } from "./staging";
import { ingestStaged } from "./ingest";
import type { StagedFile } from "./receive";
import { jsonError } from "@/server/http/access";
import { refuse } from "@/server/dicomweb/stow";

const log = childLog("upload");

export interface UploadTarget {
  prisma: PrismaClient;
  projectId: string;
  batchId: string;
  /** The file's name (from the X-Atrium-File-Name header); only echoed in the answer. */
  name: string;
  remoteAddress?: string | null;
  dataDir?: string;
  maxBytes?: number;
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

/** The body broke off before its end (client gone, connection cut, Content-Length not reached). */
class BodyInterruptedError extends Error {}

/** Throws DicomParseError when the staged file is not a complete, readable DICOM file. */
function checkComplete(file: StagedFile) {
  const source = openSource(file.path);
  try {
    parseDicom(source);
  } finally {
    source.close?.();
  }
}

/**
 * Passes a file through once its first bytes could start a DICOM file (couldBeDicom); otherwise
 * fails with NotDicomError after 132 bytes, so a large non-DICOM file or a zip bomb's entry is not
 * written whole before readPart10Info (the judge, in stageStream) would refuse it.
 */
function sniffDicom(): Transform {
  let head: Buffer[] = [];
  let seen = 0;
  let decided = false;
  const notDicom = () => new NotDicomError("not DICOM (no DICM prefix and no recognisable group 0002/0008 start)");
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (decided) return cb(null, chunk);
      head.push(chunk);
      seen += chunk.length;
      if (seen < SNIFF_BYTES) return cb();
      const all = Buffer.concat(head);
      head = [];
      decided = true;
      if (!couldBeDicom(all.subarray(0, SNIFF_BYTES), false)) return cb(notDicom());
      cb(null, all);
    },
    flush(cb) {
      if (decided) return cb();
      const all = Buffer.concat(head);
      if (!couldBeDicom(all, true)) return cb(all.length ? notDicom() : new NotDicomError("empty file"));
      cb(null, all);
    },
  });
}

/**
 * Stages, checks and records one file. Never throws for what is wrong with the file itself: that
 * becomes its result. Throws BodyInterruptedError when the stream broke (nothing is kept).
 */
async function receiveOne(body: Readable, name: string, t: UploadTarget & { dataDir: string; maxBytes: number }): Promise<UploadResult> {
  const result = (outcome: UploadResult["outcome"], reason: string | null, sizeBytes = 0, instanceId: string | null = null): UploadResult => ({
    name,
    outcome,
    reason,
    instanceId,
    sizeBytes,
  });
  let staged: StagedFile;
  const sniffed = body.pipe(sniffDicom());
  body.on("error", (e) => sniffed.destroy(e));
  try {
    staged = await stageStream(t.dataDir, "upload", sniffed, { maxBytes: t.maxBytes });
  } catch (e) {
    body.destroy();
    if (e instanceof NotDicomError) return result("skipped", `not a DICOM file (${e.message.replace(/^not DICOM \((.*)\)$/, "$1")})`);
    if (e instanceof TooLargeError) {
      return result("failed", `larger than the limit of ${mb(t.maxBytes)} MB for one file (ATRIUM_MAX_INSTANCE_MB); send it by C-STORE or ask your administrator to raise the limit`);
    }
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOSPC") return result("failed", "the server's disk is full; tell your administrator, then send it again");
    if (err.code === "ENOENT" || err.code === "EACCES" || err.code === "EEXIST") {
      log.error({ batchId: t.batchId, code: err.code }, "could not write an uploaded file to staging");
      return result("failed", `could not be written (server error ${err.code}); send it again later`);
    }
    throw new BodyInterruptedError(err.message);
  }
  try {
    checkComplete(staged);
  } catch (e) {
    if (e instanceof DicomParseError && (e.code === "truncated" || e.code === "not_dicom")) {
      await rm(staged.path, { force: true });
      return result("skipped", `not a complete DICOM file (${e.message})`, staged.sizeBytes);
    }
    // Other oddities are for de-identification to judge: it quarantines with a reason.
  }
  try {
    const instance = await ingestStaged(
      t.prisma,
      t.dataDir,
      staged,
      { channel: "upload", batchId: t.batchId, remoteAddress: t.remoteAddress ?? null },
      { projectId: t.projectId },
    );
    return instance.status === "quarantined"
      ? result("quarantined", "no project accepts this file", staged.sizeBytes, instance.id)
      : result("accepted", null, staged.sizeBytes, instance.id);
  } catch (e) {
    log.error({ batchId: t.batchId, error: (e as Error).name }, "could not record an uploaded instance");
    await rm(staged.path, { force: true });
    return result("failed", "could not be recorded (database unavailable); send it again later", staged.sizeBytes);
  }
}

/** Most of a refused body read before answering (the client then sees the answer, not a reset). */
const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;

/** The request body, read through one iterator that outlives any consumer that gives up on it. */
interface Body {
  /** A stream of the body; abandoning it (stageStream refusing a file) leaves the body readable. */
  view: Readable;
  /** Reads and discards the rest of the body (up to 16 MB); past that the connection closes after the answer. */
  drain(response: Response): Promise<Response>;
}

function detachable(source: Readable): Body {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const view = new Readable({
    read() {
      it.next().then(
        (r) => this.push(r.done ? null : r.value),
        (e: Error) => this.destroy(e),
      );
    },
  });
  return {
    view,
    async drain(response) {
      view.destroy();
      let seen = 0;
      try {
        for (let r = await it.next(); !r.done; r = await it.next()) {
          seen += r.value.length;
          if (seen > DRAIN_LIMIT_BYTES) break;
        }
      } catch {
        // the client went away: nobody reads the answer
      }
      if (seen > DRAIN_LIMIT_BYTES) response.headers.set("connection", "close");
      return response;
    },
  };
}

/** Writes the request body to a private temporary file, at most `limit` bytes. */
async function spoolZip(body: Readable, dir: string, limit: number): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${randomUUID()}.zip.partial`);
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > limit) return cb(new TooLargeError(limit));
      cb(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, createWriteStream(file, { flags: "wx", mode: 0o600 }));
    return file;
  } catch (e) {
    await rm(file, { force: true });
    throw e;
  }
}

class NotZipError extends Error {}

interface OpenZip {
  /** Every entry of the central directory, in order. */
  entries: yauzl.Entry[];
  open(entry: yauzl.Entry): Promise<Readable>;
  close(): void;
}

/** Opens the zip at `file` and reads its whole central directory (no entry data yet). */
async function openZip(file: string): Promise<OpenZip> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, strictFileNames: false, validateEntrySizes: true });
  } catch (e) {
    throw new NotZipError((e as Error).message);
  }
  const entries: yauzl.Entry[] = [];
  try {
    while (true) {
      const entry = await new Promise<yauzl.Entry | null>((resolve, reject) => {
        const onEntry = (en: yauzl.Entry) => done(en);
        const onEnd = () => done(null);
        const onError = (err: Error) => {
          cleanup();
          reject(new NotZipError(err.message));
        };
        const cleanup = () => {
          zip.off("entry", onEntry);
          zip.off("end", onEnd);
          zip.off("error", onError);
        };
        const done = (en: yauzl.Entry | null) => {
          cleanup();
          resolve(en);
        };
        zip.on("entry", onEntry);
        zip.on("end", onEnd);
        zip.on("error", onError);
        zip.readEntry();
      });
      if (!entry) break;
      entries.push(entry);
      if (entries.length > MAX_ZIP_ENTRIES) break;
    }
  } catch (e) {
    zip.close();
    throw e;
  }
  return { entries, open: (entry) => zip.openReadStreamPromise(entry), close: () => zip.close() };
}

/** Bytes the batch has staged so far (recorded upload instances of this project and batch). */
async function batchBytes(t: UploadTarget): Promise<number> {
  const r = await t.prisma.receivedInstance.aggregate({ where: { projectId: t.projectId, channel: "upload", batchId: t.batchId }, _sum: { sizeBytes: true } });
  return r._sum.sizeBytes ?? 0;
}

let spoolSweptAtStart = false;

/** Handles one upload request for a project whose access was already checked. */
export async function handleUpload(req: Request, target: UploadTarget): Promise<Response> {
  const kind = uploadKindOf(req.headers.get("content-type"));
  if (!kind) {
    const got = req.headers.get("content-type")?.split(";")[0]?.trim() || "none";
    return refuse(
      req,
      jsonError(415, `Upload takes one DICOM file (Content-Type application/dicom) or one zip archive (application/zip) per request; this request has Content-Type ${got}. Send each file as the raw request body.`),
    );
  }
  if (!req.body) return jsonError(400, "The request has no body. Send one DICOM file or one zip archive as the request body.");
  const t = { ...target, dataDir: target.dataDir ?? configuredDataDir(), maxBytes: target.maxBytes ?? maxInstanceBytes() };
  const limits = uploadLimits();
  const source = Readable.fromWeb(req.body as unknown as NodeWebReadableStream<Uint8Array>);
  const started = Date.now();
  const interrupted = () =>
    jsonError(400, "The request body could not be read to its end (the connection was interrupted); nothing of it was kept. Send the file again.");
  const body = detachable(source);
  const view = body.view;
  try {
    if (kind === "file") {
      const declared = Number(req.headers.get("content-length") ?? 0) || 0;
      const room = decideBatchRoom(Math.min(declared, t.maxBytes), await batchBytes(t), limits.maxBatchBytes);
      if (!room.ok) return await body.drain(jsonError(413, room.message));
      let r: UploadResult;
      try {
        r = await receiveOne(view, t.name, t);
      } catch (e) {
        if (e instanceof BodyInterruptedError) {
          log.warn({ batchId: t.batchId }, "upload body interrupted");
          return interrupted();
        }
        throw e;
      }
      if (r.outcome === "failed" && r.reason?.startsWith("larger than")) {
        return await body.drain(jsonError(413, `This file is ${r.reason}.`));
      }
      log.info({ batchId: t.batchId, projectId: t.projectId, kind, outcome: r.outcome, ms: Date.now() - started }, "upload");
      // A file refused after its first bytes: read the rest, so the client sees the answer.
      return await body.drain(answer({ batchId: t.batchId, kind, results: [r], ignoredEntries: 0 }));
    }

    if (!spoolSweptAtStart) {
      // Spools left by uploads interrupted before this process started (the workers' sweep repeats it).
      spoolSweptAtStart = true;
      void sweepZipSpool(t.dataDir).catch((e: Error) => log.warn({ error: e.name }, "zip spool sweep failed"));
    }
    let zipFile: string;
    try {
      zipFile = await spoolZip(view, path.join(t.dataDir, "staging", ZIP_SPOOL_DIR), t.maxBytes);
    } catch (e) {
      if (e instanceof TooLargeError) {
        return await body.drain(jsonError(413, `This zip archive is larger than the limit of ${mb(t.maxBytes)} MB (ATRIUM_MAX_INSTANCE_MB). Split it into smaller archives, or upload the folder instead.`));
      }
      log.warn({ batchId: t.batchId }, "upload zip body interrupted");
      return interrupted();
    }
    const results: UploadResult[] = [];
    let ignoredEntries = 0;
    let zip: OpenZip;
    try {
      zip = await openZip(zipFile);
    } catch (e) {
      await rm(zipFile, { force: true });
      if (e instanceof NotZipError) return jsonError(400, `This is not a readable zip archive (${e.message}). Send a .zip file, or the DICOM files themselves.`);
      throw e;
    }
    try {
      // Bounds first, from the central directory: a refused archive stages nothing.
      const archiveBytes = statSync(zipFile).size;
      const decision = decideZipExpansion(
        zip.entries.map((e) => ({ name: e.fileName, uncompressedSize: e.uncompressedSize, encrypted: e.isEncrypted() })),
        archiveBytes,
        await batchBytes(t),
        { maxEntryBytes: t.maxBytes, ...limits },
      );
      if (!decision.ok) {
        log.warn({ batchId: t.batchId, projectId: t.projectId, entries: zip.entries.length, archiveBytes }, "upload zip refused: over the expansion bounds");
        return jsonError(413, decision.message);
      }
      for (const entry of zip.entries) {
        const name = entry.fileName;
        if (isIgnoredZipEntry(name)) {
          ignoredEntries++;
          continue;
        }
        const fail = (outcome: "skipped" | "failed", reason: string) => results.push({ name, outcome, reason, instanceId: null, sizeBytes: 0 });
        if (entry.isEncrypted()) {
          fail("skipped", "encrypted in the archive; Atrium cannot read encrypted zip entries, so zip the files without a password");
          continue;
        }
        if (entry.uncompressedSize > t.maxBytes) {
          fail("failed", `larger than the limit of ${mb(t.maxBytes)} MB for one file (ATRIUM_MAX_INSTANCE_MB); send it by C-STORE or ask your administrator to raise the limit`);
          continue;
        }
        let stream: Readable;
        try {
          stream = await zip.open(entry);
        } catch (e) {
          fail("skipped", `cannot be read from the archive (${(e as Error).message})`);
          continue;
        }
        try {
          // yauzl (validateEntrySizes) fails an entry whose data is longer than declared: the total checked above holds.
          results.push(await receiveOne(stream, name, t));
        } catch (e) {
          // A broken entry (bad compressed data, size not as declared): that entry only.
          fail("skipped", `cannot be read from the archive (${(e as Error).message}); the archive may be damaged`);
        }
      }
    } finally {
      zip.close();
      await rm(zipFile, { force: true });
    }
    log.info({ batchId: t.batchId, projectId: t.projectId, kind, files: results.length, accepted: results.filter((r) => r.outcome === "accepted").length, ms: Date.now() - started }, "upload");
    return answer({ batchId: t.batchId, kind, results, ignoredEntries });
  } finally {
    source.destroy();
  }
}

function answer(body: UploadResponse): Response {
  return Response.json(body, { status: 200, headers: { "cache-control": "no-store" } });
}
