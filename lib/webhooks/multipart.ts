// The body of the first part of a multipart/related stream, streamed (WADO-RS answers one
// instance as multipart/related; type="application/dicom"). Memory stays bounded by the chunk size.
import { Transform, type TransformCallback } from "node:stream";

export { multipartBoundary } from "@/lib/http/multipart-boundary";

export class MultipartError extends Error {}

const HEADER_END = Buffer.from("\r\n\r\n");
const MAX_HEADER_BYTES = 64 * 1024;

/** A Transform that outputs only the body of the first part. */
export function firstPartBody(boundary: string): Transform {
  const opening = Buffer.from(`--${boundary}`);
  const closing = Buffer.from(`\r\n--${boundary}`);
  let phase: "head" | "body" | "done" = "head";
  let held: Buffer = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (phase === "done") return cb();
      held = held.length ? Buffer.concat([held, chunk]) : chunk;
      if (phase === "head") {
        const start = held.indexOf(opening);
        const end = start < 0 ? -1 : held.indexOf(HEADER_END, start + opening.length);
        if (end < 0) {
          if (held.length > MAX_HEADER_BYTES) return cb(new MultipartError("The multipart answer has no part header within 64 KB."));
          return cb();
        }
        held = held.subarray(end + HEADER_END.length);
        phase = "body";
      }
      const stop = held.indexOf(closing);
      if (stop >= 0) {
        phase = "done";
        this.push(held.subarray(0, stop));
        held = Buffer.alloc(0);
        return cb();
      }
      // Keep back what could be the start of the closing delimiter.
      const keep = Math.min(held.length, closing.length - 1);
      if (held.length > keep) this.push(held.subarray(0, held.length - keep));
      held = held.subarray(held.length - keep);
      cb();
    },
    flush(cb: TransformCallback) {
      if (phase !== "done") return cb(new MultipartError("The multipart answer ended before its closing boundary (truncated)."));
      cb();
    },
  });
}
