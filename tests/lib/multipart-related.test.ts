// The streaming multipart parser: every way a body can be split into chunks gives the same parts;
// preamble, epilogue, header folding and empty parts follow RFC 2046; malformed or cut-off bodies
// are errors that say what is wrong, never a silently shortened last part.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MultipartError, parseMediaType, parseMultipart, validBoundary } from "@/lib/http/multipart-related";

const B = "atrium-Boundary_0123";

function build(parts: Array<{ headers?: string[]; body: Buffer | string }>, opts: { preamble?: string; epilogue?: string; close?: boolean; boundary?: string } = {}): Buffer {
  const b = opts.boundary ?? B;
  const out: Buffer[] = [];
  if (opts.preamble !== undefined) out.push(Buffer.from(`${opts.preamble}\r\n`));
  for (const p of parts) {
    out.push(Buffer.from(`--${b}\r\n${(p.headers ?? ["Content-Type: application/dicom"]).map((h) => `${h}\r\n`).join("")}\r\n`));
    out.push(typeof p.body === "string" ? Buffer.from(p.body) : p.body);
    out.push(Buffer.from("\r\n"));
  }
  if (opts.close !== false) out.push(Buffer.from(`--${b}--`));
  if (opts.epilogue !== undefined) out.push(Buffer.from(`\r\n${opts.epilogue}`));
  return Buffer.concat(out);
}

async function* chunks(buf: Buffer, sizes: number[] | number) {
  let off = 0;
  let i = 0;
  while (off < buf.length) {
    const n = typeof sizes === "number" ? sizes : sizes[i++ % sizes.length]!;
    yield buf.subarray(off, off + n);
    off += n;
  }
}

async function collect(source: AsyncIterable<Uint8Array>, boundary = B) {
  const out: Array<{ headers: Record<string, string>; body: Buffer }> = [];
  for await (const part of parseMultipart(source, boundary)) {
    const pieces: Buffer[] = [];
    for await (const c of part.body) pieces.push(c);
    out.push({ headers: Object.fromEntries(part.headers), body: Buffer.concat(pieces) });
  }
  return out;
}

describe("parseMultipart", () => {
  const bodies = [randomBytes(5000), Buffer.from(`binary with boundary text not at a line start --${B}, and \r\n--${B.slice(0, 5)} part of a delimiter\r\n`), Buffer.alloc(0), randomBytes(70_001)];
  const message = build(bodies.map((body) => ({ body })), { preamble: "This is the preamble.", epilogue: "and an epilogue\r\n" });

  it("gives the same parts whatever the chunking, boundaries split anywhere", async () => {
    for (const sizes of [message.length, 1, 2, 3, 7, 41, 64 * 1024, [1, 1000, 3, 17]]) {
      const parts = await collect(chunks(message, sizes));
      expect(parts.map((p) => p.body.length), `chunks of ${String(sizes)}`).toEqual(bodies.map((b) => b.length));
      parts.forEach((p, i) => expect(p.body.equals(bodies[i]!)).toBe(true));
      expect(parts[0]!.headers).toEqual({ "content-type": "application/dicom" });
    }
  });

  it("splits at every single byte position of a small message", async () => {
    const small = build([{ body: "one" }, { body: "two\r\n" }, { headers: [], body: "" }], { preamble: "pre" });
    for (let cut = 1; cut < small.length; cut++) {
      const parts = await collect(chunks(small, [cut, small.length]));
      expect(parts.map((p) => p.body.toString())).toEqual(["one", "two\r\n", ""]);
    }
  });

  it("accepts a first boundary at the very start, no preamble, no epilogue", async () => {
    const parts = await collect(chunks(build([{ body: "x" }]), 5));
    expect(parts.map((p) => p.body.toString())).toEqual(["x"]);
  });

  it("ignores a preamble that contains the boundary text without CRLF before it", async () => {
    const msg = Buffer.concat([Buffer.from(`junk--${B} still preamble\r\n`), build([{ body: "real" }])]);
    const parts = await collect(chunks(msg, 3));
    expect(parts.map((p) => p.body.toString())).toEqual(["real"]);
  });

  it("reads headers case-insensitively, with parameters, folding and white space after the boundary", async () => {
    const msg = Buffer.from(
      `--${B}  \t\r\nCONTENT-type:   application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\nX-Folded: a\r\n  b\r\n\r\nbody\r\n--${B}--\r\n`,
    );
    const [p] = await collect(chunks(msg, 4));
    expect(p!.headers["content-type"]).toBe("application/dicom; transfer-syntax=1.2.840.10008.1.2.1");
    expect(p!.headers["x-folded"]).toBe("a b");
    expect(p!.body.toString()).toBe("body");
  });

  it("lets a consumer abandon a body: the rest of it is skipped", async () => {
    const seen: string[] = [];
    for await (const part of parseMultipart(chunks(message, 999), B)) {
      for await (const c of part.body) {
        seen.push(`${part.index}:${c.length > 0}`);
        break;
      }
    }
    expect(seen).toEqual(["0:true", "1:true", "3:true"]);
  });

  const failures: Array<[string, Buffer, MultipartError["code"], RegExp]> = [
    ["no close delimiter", build([{ body: "a" }, { body: "b" }], { close: false }), "truncated", /cut off/],
    ["cut inside a body", build([{ body: randomBytes(3000) }]).subarray(0, 2000), "truncated", /ends inside a part/],
    ["cut inside headers", Buffer.from(`--${B}\r\nContent-Type: appl`), "truncated", /headers/],
    ["cut right after a boundary", Buffer.from(`--${B}`), "truncated", /close delimiter/],
    ["no boundary at all", Buffer.from("just some bytes, not multipart"), "no_first_boundary", /boundary/],
    ["boundary not followed by CRLF", Buffer.from(`--${B}garbage\r\n\r\nx\r\n--${B}--`), "bad_delimiter", /CRLF/],
    ["bare LF line endings", Buffer.from(`--${B}\nContent-Type: application/dicom\n\nx\n--${B}--\n`), "bad_delimiter", /CRLF/],
    ["header line without colon", Buffer.from(`--${B}\r\nnot a header\r\n\r\nx\r\n--${B}--`), "bad_header", /header/],
  ];
  for (const [name, msg, code, message] of failures) {
    it(`refuses a body with ${name}`, async () => {
      for (const size of [1, 13, msg.length]) {
        const err = await collect(chunks(msg, size)).catch((e: unknown) => e);
        expect(err, `chunks of ${size}`).toBeInstanceOf(MultipartError);
        expect((err as MultipartError).code).toBe(code);
        expect((err as MultipartError).message).toMatch(message);
      }
    });
  }

  it("gives the parts before a truncation to the consumer, then the error", async () => {
    const msg = build([{ body: "first" }, { body: randomBytes(500) }]).subarray(0, 300);
    const got: string[] = [];
    const err = await (async () => {
      for await (const part of parseMultipart(chunks(msg, 50), B)) {
        const pieces: Buffer[] = [];
        for await (const c of part.body) pieces.push(c);
        got.push(Buffer.concat(pieces).toString("latin1").slice(0, 5));
      }
    })().catch((e: unknown) => e);
    expect(got).toEqual(["first"]);
    expect(err).toBeInstanceOf(MultipartError);
  });

  it("refuses oversized part headers and invalid boundaries", async () => {
    const huge = Buffer.from(`--${B}\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\nx\r\n--${B}--`);
    await expect(collect(chunks(huge, 1000))).rejects.toMatchObject({ code: "headers_too_large" });
    await expect(collect(chunks(build([{ body: "x" }]), 10), "")).rejects.toMatchObject({ code: "bad_content_type" });
    expect(validBoundary("a".repeat(70))).toBe(true);
    // Orthanc's DICOMweb plugin sends 73 characters (two UUIDs), beyond RFC 2046's 70.
    expect(validBoundary("e209e628-b05a-4b57-ad61-f338408aef0a-e209e628-b05a-4b57-ad61-f338408aef0a")).toBe(true);
    expect(validBoundary("a".repeat(201))).toBe(false);
    expect(validBoundary("semi;colon")).toBe(false);
    expect(validBoundary("ends in space ")).toBe(false);
  });

  it("streams: memory stays bounded for a large part", async () => {
    const big = 64 * 1024 * 1024;
    async function* huge() {
      yield Buffer.from(`--${B}\r\nContent-Type: application/dicom\r\n\r\n`);
      const block = Buffer.alloc(1024 * 1024, 0x42);
      for (let i = 0; i < big / block.length; i++) yield block;
      yield Buffer.from(`\r\n--${B}--`);
    }
    const before = process.memoryUsage().rss;
    let total = 0;
    let peak = 0;
    for await (const part of parseMultipart(huge(), B)) {
      for await (const c of part.body) {
        total += c.length;
        peak = Math.max(peak, process.memoryUsage().rss - before);
      }
    }
    expect(total).toBe(big);
    expect(peak).toBeLessThan(48 * 1024 * 1024);
  });
});

describe("parseMediaType", () => {
  it("reads type, quoted and unquoted parameters, case-insensitively", () => {
    const m = parseMediaType('Multipart/Related; type="application/dicom"; boundary=abc123 ;START="<x>"');
    expect(m?.type).toBe("multipart/related");
    expect(m?.params.get("type")).toBe("application/dicom");
    expect(m?.params.get("boundary")).toBe("abc123");
    expect(m?.params.get("start")).toBe("<x>");
    expect(parseMediaType('multipart/related; boundary="with \\"quote\\" and space"')?.params.get("boundary")).toBe('with "quote" and space');
    expect(parseMediaType("application/dicom")?.params.size).toBe(0);
    expect(parseMediaType("not a type")).toBeNull();
    expect(parseMediaType("")).toBeNull();
  });
});
