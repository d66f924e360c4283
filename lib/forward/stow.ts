// STOW-RS client for forwarding: instances POSTed to <root>/studies in multipart/related batches
// (application/dicom parts), through the outbound allow-list (lib/outbound), with bearer or basic
// credentials; per-instance outcomes read from the receiver's answer (PS3.18 §10.5.3: Failed SOP
// Sequence with Failure Reason, Referenced SOP Sequence with Warning Reason).
import { readFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { outboundFetch, OutboundRefusedError, readTextCapped, requestUrl, type OutboundPolicy } from "@/lib/outbound";

export type StowAuth = { kind: "none" } | { kind: "bearer"; token: string } | { kind: "basic"; user: string; password: string };

export interface StowFile {
  path: string;
  sopInstanceUid: string;
  sizeBytes: number;
}

export interface StowOutcome {
  sopInstanceUid: string;
  outcome: "success" | "warning" | "failed";
  status?: number;
  reason?: string;
}

export function authHeader(auth: StowAuth): Record<string, string> {
  if (auth.kind === "bearer") return { authorization: `Bearer ${auth.token}` };
  if (auth.kind === "basic") return { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString("base64")}` };
  return {};
}

/** The multipart/related body of one batch. */
export function multipartBody(parts: Buffer[], boundary: string): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${p.length}\r\n\r\n`), p, Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

type DicomJson = Record<string, { Value?: unknown[] } | undefined>;
const str = (item: DicomJson, tag: string): string | undefined => {
  const v = item[tag]?.Value?.[0];
  return typeof v === "string" ? v : undefined;
};
const num = (item: DicomJson, tag: string): number | undefined => {
  const v = item[tag]?.Value?.[0];
  return typeof v === "number" ? v : undefined;
};

/** Per-instance outcomes from a STOW-RS answer (its HTTP status and DICOM JSON body). */
export function parseStowResponse(httpStatus: number, body: string, sent: string[]): StowOutcome[] {
  let json: DicomJson = {};
  try {
    const parsed = body.trim() ? (JSON.parse(body) as unknown) : {};
    json = (Array.isArray(parsed) ? parsed[0] : parsed) as DicomJson;
  } catch {
    json = {};
  }
  const failed = new Map<string, number | undefined>();
  for (const item of (json["00081198"]?.Value ?? []) as DicomJson[]) {
    const uid = str(item, "00081155");
    if (uid) failed.set(uid, num(item, "00081197"));
  }
  const referenced = new Map<string, number | undefined>();
  for (const item of (json["00081199"]?.Value ?? []) as DicomJson[]) {
    const uid = str(item, "00081155");
    if (uid) referenced.set(uid, num(item, "00081196"));
  }
  return sent.map((uid): StowOutcome => {
    if (failed.has(uid)) {
      const code = failed.get(uid);
      return { sopInstanceUid: uid, outcome: "failed", status: code, reason: `the receiver refused it (failure reason ${code === undefined ? "not given" : `0x${code.toString(16).toUpperCase().padStart(4, "0")}`})` };
    }
    if (referenced.has(uid)) {
      const w = referenced.get(uid);
      return w === undefined ? { sopInstanceUid: uid, outcome: "success" } : { sopInstanceUid: uid, outcome: "warning", status: w, reason: `stored with warning 0x${w.toString(16).toUpperCase().padStart(4, "0")}` };
    }
    if (httpStatus === 200) return { sopInstanceUid: uid, outcome: "success" };
    return { sopInstanceUid: uid, outcome: "failed", status: httpStatus, reason: `the receiver answered HTTP ${httpStatus} without naming this instance` };
  });
}

/** Advice for an HTTP status of a DICOMweb server: what to fix. */
export function httpAdvice(status: number): string {
  if (status === 401) return "HTTP 401: the receiver refused the credentials; check the token or user and password.";
  if (status === 403) return "HTTP 403: these credentials may not store (or read) on this receiver; ask its administrator for the right.";
  if (status === 404) return "HTTP 404: no DICOMweb service at this URL; give its root (the part before /studies), e.g. https://pacs.example.org/dicom-web.";
  if (status === 413) return "HTTP 413: the receiver refuses requests this large; lower the batch size.";
  if (status === 415) return "HTTP 415: the receiver does not accept application/dicom parts.";
  if (status >= 500) return `HTTP ${status}: the receiver failed; try again later or ask its administrator.`;
  return `HTTP ${status}.`;
}

export interface StowOptions {
  root: string;
  auth: StowAuth;
  /** Instances per request. Default 20. */
  batchSize?: number;
  /** Most bytes per request (a batch is cut before it would exceed it). Default 64 MB. */
  batchBytes?: number;
  /** Requests in flight at once (the next batch is read and posted while the receiver stores one). Default 2. */
  concurrency?: number;
  policy?: OutboundPolicy;
  onOutcome?(o: StowOutcome): void;
}

/** Sends files by STOW-RS in batches; a request that fails as a whole fails its instances with the reason (and the rest are still tried). */
export async function stowSend(files: StowFile[], opts: StowOptions): Promise<StowOutcome[]> {
  const url = requestUrl(opts.root, "/studies");
  const size = opts.batchSize ?? 20;
  const maxBytes = opts.batchBytes ?? 64 * 1024 * 1024;
  const batches: StowFile[][] = [];
  let cur: StowFile[] = [];
  let bytes = 0;
  for (const f of files) {
    if (cur.length && (cur.length >= size || bytes + f.sizeBytes > maxBytes)) {
      batches.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(f);
    bytes += f.sizeBytes;
  }
  if (cur.length) batches.push(cur);
  const results: StowOutcome[][] = new Array(batches.length);
  let next = 0;
  const sendBatch = async (batch: StowFile[]): Promise<StowOutcome[]> => {
    const uids = batch.map((f) => f.sopInstanceUid);
    let outcomes: StowOutcome[];
    try {
      const boundary = `atrium-${randomBytes(12).toString("hex")}`;
      const body = multipartBody(await Promise.all(batch.map((f) => readFile(f.path))), boundary);
      const res = await outboundFetch(
        url,
        {
          method: "POST",
          headers: { ...authHeader(opts.auth), "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}`, accept: "application/dicom+json" },
          body,
          signal: AbortSignal.timeout(10 * 60_000),
        },
        opts.policy,
      );
      const text = await readTextCapped(res as Parameters<typeof readTextCapped>[0], 16 * 1024 * 1024).catch(() => "");
      if (res.status === 200 || res.status === 202 || res.status === 409) outcomes = parseStowResponse(res.status, text, uids);
      else outcomes = uids.map((u) => ({ sopInstanceUid: u, outcome: "failed" as const, status: res.status, reason: httpAdvice(res.status) }));
    } catch (err) {
      const reason = err instanceof OutboundRefusedError ? err.message : `the request failed: ${connectionText(err)}`;
      outcomes = uids.map((u) => ({ sopInstanceUid: u, outcome: "failed" as const, reason }));
    }
    for (const o of outcomes) opts.onOutcome?.(o);
    return outcomes;
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 2, batches.length)) }, async () => {
      while (next < batches.length) {
        const i = next++;
        results[i] = await sendBatch(batches[i]!);
      }
    }),
  );
  return results.flat();
}

function connectionText(err: unknown): string {
  let c: unknown = err;
  for (let i = 0; c && i < 5; i++) {
    const code = (c as { code?: string }).code;
    if (code === "ECONNREFUSED") return "nothing listens at that address (ECONNREFUSED); check the URL and that the receiver runs.";
    if (code === "ENOTFOUND") return "the host name does not resolve; check the URL.";
    if (code) return `${code}.`;
    c = (c as { cause?: unknown }).cause;
  }
  return err instanceof Error ? err.message : String(err);
}

/** "Test connection" of a STOW-RS destination: a QIDO-RS query (limit 1) with the credentials. */
export async function testStow(root: string, auth: StowAuth, policy?: OutboundPolicy): Promise<{ ok: boolean; message: string }> {
  try {
    const res = await outboundFetch(requestUrl(root, "/studies", { limit: 1 }), { headers: { ...authHeader(auth), accept: "application/dicom+json" }, signal: AbortSignal.timeout(15_000) }, policy);
    await readTextCapped(res as Parameters<typeof readTextCapped>[0], 1024 * 1024).catch(() => "");
    if (res.status === 200 || res.status === 204) return { ok: true, message: `The DICOMweb server answered a QIDO-RS query (HTTP ${res.status}) with these credentials.` };
    return { ok: false, message: httpAdvice(res.status) };
  } catch (err) {
    return { ok: false, message: err instanceof OutboundRefusedError ? err.message : `Could not reach the DICOMweb server: ${connectionText(err)}` };
  }
}

/**
 * QIDO-RS count for verification: NumberOfStudyRelatedInstances (0020,1208) of one study. A server
 * that does not answer QIDO-RS (or not with this attribute) is "unsupported", not an error.
 */
export async function qidoStudyCount(root: string, auth: StowAuth, studyInstanceUid: string, policy?: OutboundPolicy): Promise<import("./state").PeerCount> {
  try {
    const res = await outboundFetch(
      requestUrl(root, "/studies", { StudyInstanceUID: studyInstanceUid, includefield: "00201208" }),
      { headers: { ...authHeader(auth), accept: "application/dicom+json" }, signal: AbortSignal.timeout(60_000) },
      policy,
    );
    const text = await readTextCapped(res as Parameters<typeof readTextCapped>[0], 4 * 1024 * 1024).catch(() => "");
    if (res.status === 204) return { kind: "count", count: 0 };
    if (res.status === 400 || res.status === 404 || res.status === 405 || res.status === 501 || res.status === 403)
      return { kind: "unsupported", message: `the DICOMweb server does not answer QIDO-RS study queries here (HTTP ${res.status})` };
    if (res.status !== 200) return { kind: "error", message: httpAdvice(res.status) };
    let items: DicomJson[];
    try {
      const parsed = text.trim() ? (JSON.parse(text) as unknown) : [];
      items = Array.isArray(parsed) ? (parsed as DicomJson[]) : [];
    } catch {
      return { kind: "unsupported", message: "the DICOMweb server's QIDO-RS answer is not DICOM JSON" };
    }
    if (!items.length) return { kind: "count", count: 0 };
    let count = 0;
    for (const item of items) {
      const v = item["00201208"]?.Value?.[0];
      const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : NaN;
      if (!Number.isFinite(n)) return { kind: "unsupported", message: "the DICOMweb server's QIDO-RS answer has no Number of Study Related Instances" };
      count += n;
    }
    return { kind: "count", count };
  } catch (err) {
    return { kind: "error", message: err instanceof OutboundRefusedError ? err.message : `the QIDO-RS query failed: ${connectionText(err)}` };
  }
}
