// multipart/related bodies for WADO-RS responses (RFC 2387), streamed: each part's body is a
// Buffer or a stream read as the client reads, so a study of any size is never held in memory.
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";

export interface OutPart {
  contentType: string;
  /** Bytes, a Node stream, or a function opening one when the part is reached. */
  body: Buffer | (() => Promise<Readable | Buffer>);
  contentLocation?: string;
  length?: number;
}

export function newBoundary(): string {
  return `atrium-${randomBytes(12).toString("hex")}`;
}

export function multipartContentType(boundary: string, partType: string, transferSyntax?: string): string {
  return `multipart/related; type="${partType}"; boundary=${boundary}${transferSyntax ? `; transfer-syntax=${transferSyntax}` : ""}`;
}

async function* generate(parts: AsyncIterable<OutPart> | Iterable<OutPart>, boundary: string): AsyncIterable<Uint8Array> {
  for await (const p of parts) {
    const body = Buffer.isBuffer(p.body) ? p.body : await p.body();
    const headers = [`Content-Type: ${p.contentType}`];
    if (p.contentLocation) headers.push(`Content-Location: ${p.contentLocation}`);
    const length = Buffer.isBuffer(body) ? body.length : p.length;
    if (length !== undefined) headers.push(`Content-Length: ${length}`);
    yield Buffer.from(`--${boundary}\r\n${headers.join("\r\n")}\r\n\r\n`);
    if (Buffer.isBuffer(body)) yield body;
    else for await (const chunk of body) yield chunk as Uint8Array;
    yield Buffer.from("\r\n");
  }
  yield Buffer.from(`--${boundary}--\r\n`);
}

/** A web ReadableStream of the multipart body; the client's reading pace drives the reads. */
export function multipartStream(parts: AsyncIterable<OutPart> | Iterable<OutPart>, boundary: string): ReadableStream<Uint8Array> {
  const it = generate(parts, boundary)[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await it.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (e) {
        controller.error(e);
      }
    },
    async cancel() {
      await it.return?.();
    },
  });
}
