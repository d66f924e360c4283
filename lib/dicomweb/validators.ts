// HTTP validators for stored bytes: a WADO-RS answer cut from a stored instance is the same as long
// as the instance's bytes (their SHA-256) and the request (frames, Accept) are, so a browser that
// has it cached revalidates with If-None-Match and gets 304 Not Modified, without the server
// reading the file again. Weak (W/): a multipart answer's boundary differs from one answer to the next.
import { createHash } from "node:crypto";

/** The ETag of what `accept` asks of `part` (e.g. "frames/1") of the stored bytes whose SHA-256 is `sha256`. */
export function storedBytesEtag(sha256: string, part: string, accept: string | null): string {
  return `W/"${createHash("sha256").update(`${sha256}\n${part}\n${accept ?? ""}`).digest("base64url").slice(0, 32)}"`;
}

/** Whether an If-None-Match header names `etag` (weak comparison, RFC 9110 §13.1.2), or is "*". */
export function ifNoneMatchHits(header: string | null, etag: string): boolean {
  if (!header) return false;
  const opaque = (t: string) => t.trim().replace(/^W\//, "");
  const want = opaque(etag);
  return header.split(",").some((t) => t.trim() === "*" || opaque(t) === want);
}
