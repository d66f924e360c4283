// STOW-RS (PS3.18 §10.5): a multipart/related; type="application/dicom" body is parsed as it
// arrives; each part is streamed into staging (fsynced, checked to be DICOM), recorded in
// PostgreSQL and queued for de-identification before the response is sent. Nothing is buffered
// whole; a part that fails is not stored and is reported in the Failed SOP Sequence.
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { Readable } from "node:stream";
import type { ReadableStream as NodeWebReadableStream } from "node:stream/web";
import type { PrismaClient } from "@/server/db/generated/client";
import { dataDir as configuredDataDir, maxInstanceBytes } from "@/lib/config";
import { childLog } from "@/lib/log";
import { MultipartError, parseMediaType, parseMultipart } from "@/lib/http/multipart-related";
import { DicomParseError, parseDicom, stringValue } from "@/lib/dicom/parse";
import { openSource } from "@/lib/dicom/source";
import { FAILURE, failureSummary, stowResponseJson, stowResponseXml, stowStatus, wantsXml, type StowOutcome } from "@/lib/dicomweb/stow-response";
import { NotDicomError, stageStream, TooLargeError } from "@/server/intake/stage";
import { ingestStaged } from "@/server/intake/ingest";
import type { StagedFile } from "@/server/intake/receive";
import { jsonError } from "@/server/http/access";

const log = childLog("stow");

const STUDY_INSTANCE_UID = 0x0020000d;
const EXPECTED = 'multipart/related; type="application/dicom"; boundary=…';

export interface StowTarget {
  prisma: PrismaClient;
  projectId: string;
  /** The Study Instance UID of the request URL (POST …/studies/{study}); every instance must be of it. */
  studyInstanceUid?: string;
  dataDir?: string;
  maxBytes?: number;
}

/** Most a refused request's body is read before answering (so the client sees the answer, not a reset). */
const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;

/**
 * Answers a request refused before its body was read. The body is read and discarded first, up to
 * 16 MB: a client still sending would otherwise see its connection reset instead of the reason.
 */
export async function refuse(req: Request, response: Response): Promise<Response> {
  if (req.body && !req.bodyUsed) {
    let seen = 0;
    try {
      for await (const chunk of req.body as unknown as AsyncIterable<Uint8Array>) {
        seen += chunk.byteLength;
        if (seen > DRAIN_LIMIT_BYTES) break;
      }
    } catch {
      // the client went away: nothing to answer
    }
    if (seen > DRAIN_LIMIT_BYTES) response.headers.set("connection", "close");
  }
  return response;
}

/** Reads the instance's Study Instance UID; throws DicomParseError when the file cannot be read as DICOM. */
function studyUidOf(file: StagedFile): string | undefined {
  const source = openSource(file.path);
  try {
    return stringValue(parseDicom(source).dataset, STUDY_INSTANCE_UID);
  } finally {
    source.close?.();
  }
}

/** Handles one STOW-RS request for a project whose access was already checked. */
export async function handleStow(req: Request, target: StowTarget): Promise<Response> {
  const stowError = (status: number, message: string) => refuse(req, jsonError(status, message));
  const ct = parseMediaType(req.headers.get("content-type"));
  if (!ct || ct.type !== "multipart/related") {
    return stowError(415, `STOW-RS takes Content-Type ${EXPECTED}; this request has ${ct ? ct.type : "none"}. Send the instances as parts of a multipart/related body.`);
  }
  const partType = ct.params.get("type")?.toLowerCase();
  if (partType && partType !== "application/dicom") {
    return stowError(415, `This server stores only application/dicom parts (Part 10 files); the request's type parameter is ${partType}. Send ${EXPECTED}.`);
  }
  const boundary = ct.params.get("boundary");
  if (!boundary) return stowError(400, `The Content-Type has no boundary parameter. Send ${EXPECTED}.`);
  if (!req.body) return stowError(400, "The request has no body. Send the instances as parts of a multipart/related body.");

  const dataDir = target.dataDir ?? configuredDataDir();
  const maxBytes = target.maxBytes ?? maxInstanceBytes();
  const batchId = randomUUID();
  const outcome: StowOutcome = { stored: [], failed: [] };
  const fail = (sopClassUid: string | null, sopInstanceUid: string | null, failureReason: number, explanation: string) =>
    outcome.failed.push({ sopClassUid, sopInstanceUid, failureReason, explanation });
  const started = Date.now();

  const source = Readable.fromWeb(req.body as unknown as NodeWebReadableStream<Uint8Array>);
  try {
    for await (const part of parseMultipart(source, boundary)) {
      const n = part.index + 1;
      const pct = parseMediaType(part.headers.get("content-type") ?? "application/dicom");
      if (!pct || pct.type !== "application/dicom") {
        fail(null, null, FAILURE.cannotUnderstand, `part ${n} has Content-Type ${pct?.type ?? "(unreadable)"}, not application/dicom`);
        continue; // the parser skips its body
      }
      let staged: StagedFile;
      try {
        staged = await stageStream(dataDir, "stow", Readable.from(part.body), { maxBytes });
      } catch (e) {
        if (e instanceof MultipartError) throw e;
        if (e instanceof NotDicomError) fail(null, null, FAILURE.cannotUnderstand, `part ${n} is not a DICOM file (${e.message})`);
        else if (e instanceof TooLargeError) fail(null, null, FAILURE.outOfResources, `part ${n} is larger than the limit of ${Math.round(maxBytes / 1024 / 1024)} MB (ATRIUM_MAX_INSTANCE_MB)`);
        else {
          const err = e as NodeJS.ErrnoException;
          log.error({ batchId, code: err.code, error: err.name }, "could not stage a STOW part");
          fail(null, null, err.code === "ENOSPC" ? FAILURE.outOfResources : FAILURE.processingFailure, `part ${n} could not be written (server error ${err.code ?? err.name}); send it again later`);
        }
        continue;
      }
      const sopClassUid = staged.sopClassUid ?? null;
      const sopInstanceUid = staged.sopInstanceUid ?? null;
      let studyUid: string | undefined;
      try {
        studyUid = studyUidOf(staged);
      } catch (e) {
        if (e instanceof DicomParseError && (e.code === "truncated" || e.code === "not_dicom")) {
          await rm(staged.path, { force: true });
          fail(sopClassUid, sopInstanceUid, FAILURE.cannotUnderstand, `part ${n} is not a complete DICOM file (${e.message})`);
          continue;
        }
        // Other oddities are for de-identification to judge: it quarantines with a reason.
      }
      if (target.studyInstanceUid !== undefined && studyUid !== target.studyInstanceUid) {
        await rm(staged.path, { force: true });
        fail(
          sopClassUid,
          sopInstanceUid,
          FAILURE.studyInstanceUidMismatch,
          studyUid === undefined
            ? `part ${n} has no readable Study Instance UID, so it cannot be checked against the study in the request URL; send it to /dicomweb/studies instead`
            : `part ${n} belongs to another study than the one in the request URL`,
        );
        continue;
      }
      try {
        await ingestStaged(target.prisma, dataDir, staged, { channel: "stow", batchId }, { projectId: target.projectId });
      } catch (e) {
        log.error({ batchId, error: (e as Error).name }, "could not record a STOW instance");
        await rm(staged.path, { force: true });
        fail(sopClassUid, sopInstanceUid, FAILURE.processingFailure, `part ${n} could not be recorded (database unavailable); send it again later`);
        continue;
      }
      outcome.stored.push({ sopClassUid, sopInstanceUid });
    }
  } catch (e) {
    if (e instanceof MultipartError) outcome.malformed = `the multipart body is malformed: ${e.message}`;
    else {
      // The client went away or the connection broke: what was recorded stays recorded.
      log.warn({ batchId, error: (e as Error).name, code: (e as NodeJS.ErrnoException).code }, "STOW request body could not be read to its end");
      outcome.malformed = "the request body could not be read to its end (the connection was interrupted); send the failed instances again";
    }
  } finally {
    source.destroy();
  }

  const status = stowStatus(outcome);
  const xml = wantsXml(req.headers.get("accept"));
  const headers = new Headers({ "content-type": xml ? "application/dicom+xml" : "application/dicom+json", "cache-control": "no-store" });
  const summary = failureSummary(outcome);
  if (summary) headers.set("warning", `299 atrium "${summary}"`);
  log.info(
    { batchId, projectId: target.projectId, stored: outcome.stored.length, failed: outcome.failed.length, malformed: Boolean(outcome.malformed), status, ms: Date.now() - started },
    "STOW-RS request",
  );
  const body = xml ? stowResponseXml(outcome) : JSON.stringify(stowResponseJson(outcome));
  return new Response(body, { status, headers });
}
