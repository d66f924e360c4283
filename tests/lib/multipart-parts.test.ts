// components/viewer/multipart-parts: the viewer's streaming reader of a series' pixel data, fed the
// bytes Atrium's own multipart writer (lib/dicomweb/multipart) sends, cut into chunks of every size,
// and bodies framed wrongly.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MultipartReadError, readParts } from "@/components/viewer/multipart-parts";
import { multipartBoundary } from "@/lib/http/multipart-boundary";
import { multipartContentType, multipartStream, newBoundary } from "@/lib/dicomweb/multipart";

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(stream).arrayBuffer());
}

/** `bytes` as a stream of chunks of the given sizes (repeated). */
function chunked(bytes: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  let at = 0;
  let k = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      const n = sizes[k++ % sizes.length]!;
      c.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>, boundary: string) {
  const out: { headers: Map<string, string>; body: Buffer }[] = [];
  for await (const p of readParts(stream, boundary)) out.push({ headers: p.headers, body: Buffer.from(p.body) });
  return out;
}

describe("readParts", () => {
  const bodies = [randomBytes(512 * 1024), Buffer.alloc(0), randomBytes(3), randomBytes(70_001)];

  it("reads what Atrium's multipart writer sends, however the chunks fall", async () => {
    const boundary = newBoundary();
    const wire = await bytesOf(multipartStream(bodies.map((body, i) => ({ contentType: "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1", contentLocation: `/f/${i + 1}`, body })), boundary));
    expect(multipartBoundary(multipartContentType(boundary, "application/octet-stream"))).toBe(boundary);
    for (const sizes of [[wire.length], [1], [7, 1, 64 * 1024], [65_536], [3, 5000, 2]]) {
      const parts = await readAll(chunked(wire, sizes), boundary);
      expect(parts.map((p) => p.headers.get("content-location"))).toEqual(["/f/1", "/f/2", "/f/3", "/f/4"]);
      expect(parts.map((p) => p.headers.get("content-type"))).toEqual(Array(4).fill("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"));
      parts.forEach((p, i) => expect(p.body.equals(bodies[i]!), `part ${i + 1} with chunks ${sizes.join(",")}`).toBe(true));
    }
  });

  it("refuses a part without Content-Length, a cut-off body and a part longer than it says", async () => {
    const b = "xyz";
    const enc = (s: string) => new TextEncoder().encode(s);
    const noLength = enc(`--${b}\r\nContent-Type: application/octet-stream\r\n\r\nabc\r\n--${b}--\r\n`);
    await expect(readAll(chunked(noLength, [5]), b)).rejects.toThrow(/no Content-Length/);
    const cut = enc(`--${b}\r\nContent-Length: 10\r\n\r\nabc`);
    await expect(readAll(chunked(cut, [4]), b)).rejects.toThrow(/ends inside a part/);
    const longer = enc(`--${b}\r\nContent-Length: 2\r\n\r\nabc\r\n--${b}--\r\n`);
    await expect(readAll(chunked(longer, [100]), b)).rejects.toThrow(MultipartReadError);
    const unclosed = enc(`--${b}\r\nContent-Length: 3\r\n\r\nabc\r\n--${b}`);
    await expect(readAll(chunked(unclosed, [100]), b)).rejects.toThrow(/ends inside a boundary line/);
    expect(multipartBoundary('multipart/related; type="application/octet-stream"; boundary="a b"')).toBe("a b");
    expect(multipartBoundary("application/octet-stream")).toBeNull();
  });
});
