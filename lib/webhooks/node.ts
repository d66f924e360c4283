// The DICOM node a webhook source names: lists a study's instances and retrieves each one, from
// Orthanc's REST API or a DICOMweb server (QIDO-RS to list, WADO-RS to retrieve). Errors say what
// failed in words an owner can act on, without the study's identifiers (they are PHI) and without
// anything the node answered. Requests go through the outbound policy (lib/outbound: the address
// connected to must be allowed), their URLs are built from the parsed node URL, and list answers
// are read up to a cap.
import { Readable } from "node:stream";
import { BodyTooLargeError, OutboundRefusedError, outboundFetch, readTextCapped, RequestPathError, requestUrl, type OutboundResponse } from "@/lib/outbound";
import type { WebhookNodeKind } from "./schema";
import { firstPartBody, multipartBoundary } from "./multipart";

export type NodeAuth = { kind: "none" } | { kind: "basic"; user: string; password: string } | { kind: "bearer"; token: string };

export interface DicomNode {
  kind: WebhookNodeKind;
  /** Without a trailing slash. */
  baseUrl: string;
  auth: NodeAuth;
}

export interface RemoteInstance {
  /** The node's id: Orthanc's instance id, or the SOP Instance UID for DICOMweb. */
  remoteId: string;
  /** Path under the base URL that retrieves it. */
  path: string;
}

export class NodeError extends Error {
  constructor(
    message: string,
    /** Worth trying again (network trouble, 5xx, 429). */
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = "NodeError";
  }
}

const LIST_TIMEOUT_MS = 60_000;
/** The most bytes of one list answer (instance list, QIDO page) read into memory. */
export const MAX_LIST_BYTES = 16 * 1024 * 1024;
const RETRIEVE_HEADERS_TIMEOUT_MS = 60_000;

function authHeaders(auth: NodeAuth): Record<string, string> {
  if (auth.kind === "basic") return { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString("base64")}` };
  if (auth.kind === "bearer") return { authorization: `Bearer ${auth.token}` };
  return {};
}

function statusError(status: number, what: string): NodeError {
  if (status === 401 || status === 403) return new NodeError(`The node refused ${what} (HTTP ${status}): check the source's node credentials.`, false);
  if (status === 404) return new NodeError(`The node does not have ${what} (HTTP 404): check the source's node URL and that the study is still there.`, false);
  if (status === 429 || status >= 500) return new NodeError(`The node failed ${what} (HTTP ${status}).`, true);
  return new NodeError(`The node answered ${what} with HTTP ${status}.`, false);
}

async function request(
  node: DicomNode,
  path: string,
  accept: string,
  what: string,
  timeoutMs: number,
  query?: Record<string, string | number>,
): Promise<OutboundResponse> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    // From parsed parts: whatever the stored URL holds after its path ("?", "#") is dropped.
    const url = requestUrl(node.baseUrl, path, query);
    const res = await outboundFetch(url, { headers: { accept, ...authHeaders(node.auth) }, signal: controller.signal, redirect: "error" });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw statusError(res.status, what);
    }
    return res;
  } catch (e) {
    if (e instanceof NodeError) throw e;
    if (e instanceof OutboundRefusedError) throw new NodeError(`${e.message} (the source's node URL)`, false);
    if (e instanceof RequestPathError) throw new NodeError("The node named an instance whose path would leave the node URL (a . or .. segment).", false);
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
    throw new NodeError(`Could not reach the node for ${what} (${cause}): check the node URL and that it is up.`, true);
  } finally {
    clearTimeout(timer);
  }
}

function seg(s: string) {
  return encodeURIComponent(s);
}

async function readList(res: OutboundResponse, what: string): Promise<string> {
  try {
    return await readTextCapped(res as unknown as Response, MAX_LIST_BYTES);
  } catch (e) {
    if (e instanceof BodyTooLargeError) throw new NodeError(`The node's answer for ${what} is larger than ${MAX_LIST_BYTES / 1024 / 1024} MiB, the most Atrium reads: is the node URL right?`, false);
    throw new NodeError(`The transfer of ${what} broke off (${(e as Error).name}).`, true);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

type DicomJson = Record<string, { Value?: unknown[] }>;
const firstString = (o: DicomJson, tag: string) => {
  const v = o[tag]?.Value?.[0];
  return typeof v === "string" ? v : null;
};

/** Every instance of the study, as the node lists it. */
export async function listStudyInstances(node: DicomNode, studyId: string): Promise<RemoteInstance[]> {
  const what = "the study's instance list";
  if (node.kind === "orthanc") {
    const res = await request(node, `/studies/${seg(studyId)}/instances`, "application/json", what, LIST_TIMEOUT_MS);
    const list = parseJson(await readList(res, what)) as Array<{ ID?: unknown }> | null;
    if (!Array.isArray(list)) throw new NodeError("The node's instance list is not the JSON array Orthanc sends: is the node URL Orthanc's REST root?", false);
    return list.map((i) => {
      if (typeof i.ID !== "string" || !/^[0-9a-f-]{44}$/.test(i.ID)) throw new NodeError("The node's instance list holds an entry without an Orthanc instance ID.", false);
      return { remoteId: i.ID, path: `/instances/${i.ID}/file` };
    });
  }
  // QIDO-RS, page by page (servers may cap a page; some ignore limit/offset: stop when nothing is new).
  const pageSize = 1000;
  const seen = new Map<string, RemoteInstance>();
  for (let offset = 0; ; offset += pageSize) {
    const res = await request(node, `/studies/${seg(studyId)}/instances`, "application/dicom+json", what, LIST_TIMEOUT_MS, {
      includefield: "0020000E",
      limit: pageSize,
      offset,
    });
    const text = res.status === 204 ? "[]" : await readList(res, what);
    let page: DicomJson[];
    try {
      page = JSON.parse(text || "[]") as DicomJson[];
    } catch {
      throw new NodeError("The node's QIDO-RS answer is not DICOM JSON: is the node URL the DICOMweb root (the URL before /studies)?", false);
    }
    if (!Array.isArray(page)) throw new NodeError("The node's QIDO-RS answer is not a JSON array.", false);
    let added = 0;
    for (const o of page) {
      const series = firstString(o, "0020000E");
      const sop = firstString(o, "00080018");
      if (!series || !sop) throw new NodeError("The node's QIDO-RS answer lacks Series or SOP Instance UIDs.", false);
      if (!seen.has(sop)) {
        seen.set(sop, { remoteId: sop, path: `/studies/${seg(studyId)}/series/${seg(series)}/instances/${seg(sop)}` });
        added++;
      }
    }
    if (page.length < pageSize || added === 0) break;
  }
  return [...seen.values()];
}

/** The Part 10 bytes of one instance, streamed. */
export async function retrieveInstance(node: DicomNode, inst: RemoteInstance): Promise<Readable> {
  const what = "an instance of the study";
  if (node.kind === "orthanc") {
    const res = await request(node, inst.path, "application/dicom", what, RETRIEVE_HEADERS_TIMEOUT_MS);
    if (!res.body) throw new NodeError("The node sent an empty instance.", true);
    return Readable.fromWeb(res.body as import("node:stream/web").ReadableStream);
  }
  const res = await request(node, inst.path, 'multipart/related; type="application/dicom"', what, RETRIEVE_HEADERS_TIMEOUT_MS);
  if (!res.body) throw new NodeError("The node sent an empty instance.", true);
  const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream);
  const contentType = res.headers.get("content-type");
  if (contentType && /^application\/dicom\b/i.test(contentType)) return body;
  const boundary = multipartBoundary(contentType);
  if (!boundary) {
    body.destroy();
    throw new NodeError(`The node answered WADO-RS with ${contentType ?? "no content type"}, not multipart/related with a boundary.`, false);
  }
  const part = firstPartBody(boundary);
  body.on("error", (e) => part.destroy(e));
  return body.pipe(part);
}

/** Runs `fn`, again after a growing pause while it fails with a retryable NodeError. */
export async function withRetry<T>(fn: () => Promise<T>, opts: { attempts?: number; baseDelayMs?: number } = {}): Promise<T> {
  const attempts = opts.attempts ?? 4;
  const base = opts.baseDelayMs ?? 500;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof NodeError) || !e.retryable || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, base * 2 ** (i - 1)));
    }
  }
}
