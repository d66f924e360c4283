// Content negotiation for WADO-RS (PS3.18 §8.7): the Accept header's media ranges with their
// `type` and `transfer-syntax` parameters. Atrium serves instances and frames in their stored
// transfer syntax (it does not transcode), so a request that insists on another one is a 406.
import { frameMediaType } from "./frames";

export interface MediaRange {
  type: string;
  params: Record<string, string>;
  q: number;
}

export const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const UNCOMPRESSED = new Set(["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"]);

/** Splits on commas outside quotes. */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export function parseAccept(header: string | null): MediaRange[] {
  if (!header || !header.trim()) return [{ type: "*/*", params: {}, q: 1 }];
  const out: MediaRange[] = [];
  for (const part of splitOutsideQuotes(header, ",")) {
    const [type, ...rest] = splitOutsideQuotes(part, ";").map((x) => x.trim());
    if (!type) continue;
    const params: Record<string, string> = {};
    let q = 1;
    for (const p of rest) {
      const eq = p.indexOf("=");
      if (eq < 0) continue;
      const k = p.slice(0, eq).trim().toLowerCase();
      const v = p.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
      if (k === "q") q = Number(v);
      else params[k] = v;
    }
    if (q > 0) out.push({ type: type.toLowerCase(), params, q: Number.isFinite(q) ? q : 1 });
  }
  return out.sort((a, b) => b.q - a.q);
}

const wildcard = (t: string) => t === "*/*";

export type InstanceNegotiation = { ok: true; multipart: boolean; syntaxes: "*" | Set<string> } | { ok: false; message: string };

/** Whole instances: multipart/related; type="application/dicom" (or application/dicom for one instance). */
export function negotiateInstances(header: string | null, single: boolean): InstanceNegotiation {
  for (const r of parseAccept(header)) {
    const ts = r.params["transfer-syntax"];
    const syntaxes = !ts || ts === "*" ? "*" : new Set(ts.split(",").map((s) => s.trim()));
    if (wildcard(r.type) || r.type === "multipart/*") return { ok: true, multipart: true, syntaxes: "*" };
    if (r.type === "multipart/related" && (!r.params.type || r.params.type.toLowerCase() === "application/dicom")) return { ok: true, multipart: true, syntaxes };
    if (single && r.type === "application/dicom") return { ok: true, multipart: false, syntaxes };
  }
  return {
    ok: false,
    message: 'Atrium returns instances as multipart/related; type="application/dicom" (or application/dicom for a single instance). Ask for that media type.',
  };
}

export function negotiateJson(header: string | null): boolean {
  return parseAccept(header).some((r) => wildcard(r.type) || r.type === "application/dicom+json" || r.type === "application/json" || r.type === "application/*");
}

export type FrameNegotiation = { ok: true; partType: string; transferSyntax: string; multipart: boolean } | { ok: false; message: string };

/**
 * Frames: uncompressed frames are application/octet-stream (Explicit VR Little Endian); compressed
 * frames are served in the stored syntax, as its image media type (image/jls, image/jp2, …) or as
 * application/octet-stream when the client asks with transfer-syntax=* or the stored syntax.
 */
export function negotiateFrames(header: string | null, storedSyntax: string, encapsulated: boolean, single: boolean): FrameNegotiation {
  const compressedType = frameMediaType(storedSyntax);
  for (const r of parseAccept(header)) {
    const multipart = r.type === "multipart/related" || r.type === "multipart/*" || wildcard(r.type);
    const partType = (multipart ? (r.params.type ?? "*/*") : r.type).toLowerCase();
    if (!multipart && !single) continue;
    const ts = r.params["transfer-syntax"];
    const anyTs = !ts || ts === "*";
    const asMultipart = multipart;
    if (!encapsulated) {
      if ((wildcard(partType) || partType === "application/octet-stream") && (anyTs || ts === EXPLICIT_LE || ts === storedSyntax)) {
        return { ok: true, partType: "application/octet-stream", transferSyntax: EXPLICIT_LE, multipart: asMultipart };
      }
      continue;
    }
    if ((wildcard(partType) || partType === compressedType || partType === "image/*") && (anyTs || ts === storedSyntax)) {
      return { ok: true, partType: compressedType, transferSyntax: storedSyntax, multipart: asMultipart };
    }
    if (partType === "application/octet-stream" && (ts === "*" || ts === storedSyntax)) {
      return { ok: true, partType: "application/octet-stream", transferSyntax: storedSyntax, multipart: asMultipart };
    }
  }
  return {
    ok: false,
    message: encapsulated
      ? `The frames are stored compressed (transfer syntax ${storedSyntax}) and Atrium does not transcode: ask for multipart/related; type="${compressedType}", or type="application/octet-stream"; transfer-syntax=*.`
      : 'The frames are uncompressed: ask for multipart/related; type="application/octet-stream".',
  };
}

export function isUncompressedSyntax(uid: string): boolean {
  return UNCOMPRESSED.has(uid);
}

/** Bulk data: multipart/related; type="application/octet-stream" (or application/octet-stream alone). */
export function negotiateBulk(header: string | null): { ok: true; multipart: boolean } | { ok: false; message: string } {
  for (const r of parseAccept(header)) {
    if (wildcard(r.type) || r.type === "multipart/*") return { ok: true, multipart: true };
    if (r.type === "multipart/related" && (!r.params.type || r.params.type.toLowerCase() === "application/octet-stream" || r.params.type === "*/*")) return { ok: true, multipart: true };
    if (r.type === "application/octet-stream") return { ok: true, multipart: false };
  }
  return { ok: false, message: 'Bulk data is served as multipart/related; type="application/octet-stream" or application/octet-stream.' };
}

/** Rendered and thumbnail resources: image/png only. */
export function negotiatePng(header: string | null): boolean {
  return parseAccept(header).some((r) => wildcard(r.type) || r.type === "image/*" || r.type === "image/png");
}
