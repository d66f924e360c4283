// A streaming multipart parser (RFC 2046 §5.1, as multipart/related per RFC 2387 uses it) for
// request bodies that may hold gigabytes: no part is ever held in memory. Parts are yielded one at
// a time; each part's body is an async iterable of chunks that must be read (or abandoned) before
// the next part is asked for. Memory held: one chunk plus a delimiter's length.
//
// Strict where it matters: delimiters are CRLF "--" boundary; a body that ends before the close
// delimiter ("--boundary--") is an error (MultipartError "truncated"), so a cut-off upload is never
// taken for a complete last part. Lenient where RFC 2046 asks it: a preamble before the first
// delimiter and an epilogue after the last are ignored, as is linear white space after a boundary.

export type MultipartErrorCode = "bad_content_type" | "no_first_boundary" | "bad_delimiter" | "headers_too_large" | "bad_header" | "truncated";

export class MultipartError extends Error {
  constructor(
    readonly code: MultipartErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "MultipartError";
  }
}

export interface MediaType {
  /** type/subtype in lower case, e.g. "multipart/related". */
  type: string;
  /** Parameter names in lower case; values unquoted. */
  params: Map<string, string>;
}

/** Parses a Content-Type value (RFC 9110 §8.3.1): `type/subtype *( ";" name=value / name="quoted" )`. */
export function parseMediaType(value: string | null | undefined): MediaType | null {
  if (!value) return null;
  const m = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*/.exec(value);
  if (!m) return null;
  const params = new Map<string, string>();
  let rest = value.slice(m[0].length);
  while (rest.length) {
    const p = /^;\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s"]*))\s*/.exec(rest);
    if (!p) {
      const empty = /^;\s*/.exec(rest); // tolerate a trailing or doubled ";"
      if (!empty || empty[0].length === 0) return null;
      rest = rest.slice(empty[0].length);
      continue;
    }
    const name = p[1]!.toLowerCase();
    const val = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
    if (!params.has(name)) params.set(name, val);
    rest = rest.slice(p[0].length);
  }
  return { type: m[1]!.toLowerCase(), params };
}

/**
 * A boundary of RFC 2046's characters, not ending in a space. RFC 2046 caps it at 70 characters,
 * but real senders exceed that (Orthanc's DICOMweb plugin sends two UUIDs: 73), so up to 200 pass.
 */
export function validBoundary(b: string): boolean {
  return /^[0-9A-Za-z'()+_,\-./:=? ]{0,199}[0-9A-Za-z'()+_,\-./:=?]$/.test(b);
}

export interface MultipartPart {
  /** Header names in lower case (e.g. "content-type"); a repeated header keeps its first value. */
  headers: Map<string, string>;
  /** The part's body. Read it to the end, or stop: the parser skips what is left. */
  body: AsyncIterable<Buffer>;
  /** 0-based position of the part in the message. */
  index: number;
}

export interface MultipartOptions {
  /** Largest header section of one part (default 16 KiB). */
  maxHeaderBytes?: number;
}

const CRLF = Buffer.from("\r\n");
const CRLFCRLF = Buffer.from("\r\n\r\n");

/**
 * Parses a multipart body. `source` yields the raw request body in chunks of any size.
 * Throws MultipartError for malformed framing (from the generator or from a part's body).
 */
export async function* parseMultipart(source: AsyncIterable<Uint8Array>, boundary: string, opts: MultipartOptions = {}): AsyncGenerator<MultipartPart, void, undefined> {
  if (!validBoundary(boundary)) throw new MultipartError("bad_content_type", "The multipart boundary is missing or not valid (1–70 characters of those RFC 2046 allows).");
  const r = new Reader(source, boundary, opts.maxHeaderBytes ?? 16 * 1024);
  await r.skipPreamble();
  let index = 0;
  while (await r.nextPartStarts()) {
    const headers = await r.readHeaders();
    const part: MultipartPart = { headers, index: index++, body: r.bodyIterable() };
    yield part;
    // Whatever the consumer left unread is skipped (and framing errors in it still surface).
    await r.drainBody();
  }
  await r.drainEpilogue();
}

class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;
  /** "\r\n--" + boundary: what ends a body. */
  private readonly delim: Buffer;
  private bodyOpen = false;
  private failed: MultipartError | null = null;

  constructor(
    source: AsyncIterable<Uint8Array>,
    boundary: string,
    private readonly maxHeaderBytes: number,
  ) {
    this.it = source[Symbol.asyncIterator]();
    this.delim = Buffer.from(`\r\n--${boundary}`, "latin1");
  }

  private fail(code: MultipartErrorCode, message: string): never {
    this.failed = new MultipartError(code, message);
    throw this.failed;
  }

  /** Reads one more chunk into buf; false at the end of the source. */
  private async more(): Promise<boolean> {
    if (this.failed) throw this.failed;
    if (this.done) return false;
    const n = await this.it.next();
    if (n.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value.buffer, n.value.byteOffset, n.value.byteLength);
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    return true;
  }

  private async ensure(n: number): Promise<boolean> {
    while (this.buf.length < n) if (!(await this.more())) return false;
    return true;
  }

  /** Finds the first delimiter; the very first may come without its leading CRLF (no preamble). */
  async skipPreamble(): Promise<void> {
    const dashBoundary = this.delim.subarray(2);
    await this.ensure(dashBoundary.length);
    if (this.buf.subarray(0, dashBoundary.length).equals(dashBoundary)) {
      this.buf = this.buf.subarray(dashBoundary.length);
      return;
    }
    for (;;) {
      const at = this.buf.indexOf(this.delim);
      if (at >= 0) {
        this.buf = this.buf.subarray(at + this.delim.length);
        return;
      }
      // Keep only what could be the start of a delimiter; the preamble is discarded.
      if (this.buf.length > this.delim.length) this.buf = this.buf.subarray(this.buf.length - this.delim.length + 1);
      if (!(await this.more())) {
        this.fail("no_first_boundary", "The body holds no part: the boundary given in Content-Type never appears in it. Check that the boundary parameter matches the body.");
      }
    }
  }

  /** After a delimiter: "--" ends the message; else transport padding and CRLF start a part. */
  async nextPartStarts(): Promise<boolean> {
    for (;;) {
      if (!(await this.ensure(2))) this.fail("truncated", "The body ends right after a boundary, without the close delimiter (--boundary--). The upload was cut off; send it again.");
      if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) {
        this.buf = this.buf.subarray(2);
        return false;
      }
      let i = 0;
      while (i < this.buf.length && (this.buf[i] === 0x20 || this.buf[i] === 0x09)) i++;
      if (i === this.buf.length) {
        if (i > 1024) this.fail("bad_delimiter", "Too much white space after a boundary.");
        if (!(await this.more())) this.fail("truncated", "The body ends inside a boundary line. The upload was cut off; send it again.");
        continue;
      }
      if (!(await this.ensure(i + 2))) this.fail("truncated", "The body ends inside a boundary line. The upload was cut off; send it again.");
      if (this.buf[i] !== 0x0d || this.buf[i + 1] !== 0x0a) {
        this.fail("bad_delimiter", "A boundary line is not followed by CRLF. Multipart lines must end in CRLF (\\r\\n).");
      }
      this.buf = this.buf.subarray(i + 2);
      return true;
    }
  }

  async readHeaders(): Promise<Map<string, string>> {
    const headers = new Map<string, string>();
    // No headers at all: the part starts with the empty line.
    if (!(await this.ensure(2))) this.fail("truncated", "The body ends inside a part's headers. The upload was cut off; send it again.");
    if (this.buf[0] === 0x0d && this.buf[1] === 0x0a) {
      this.buf = this.buf.subarray(2);
      return headers;
    }
    let end: number;
    let searchFrom = 0;
    for (;;) {
      end = this.buf.indexOf(CRLFCRLF, searchFrom);
      if (end >= 0) break;
      if (this.buf.length > this.maxHeaderBytes) this.fail("headers_too_large", `A part's headers exceed ${this.maxHeaderBytes} bytes.`);
      searchFrom = Math.max(0, this.buf.length - 3);
      if (!(await this.more())) this.fail("truncated", "The body ends inside a part's headers. The upload was cut off; send it again.");
    }
    if (end > this.maxHeaderBytes) this.fail("headers_too_large", `A part's headers exceed ${this.maxHeaderBytes} bytes.`);
    const text = this.buf.toString("latin1", 0, end);
    this.buf = this.buf.subarray(end + 4);
    let last: string | null = null;
    for (const line of text.split("\r\n")) {
      if ((line.startsWith(" ") || line.startsWith("\t")) && last) {
        headers.set(last, `${headers.get(last)} ${line.trim()}`); // obsolete line folding
        continue;
      }
      const colon = line.indexOf(":");
      if (colon <= 0) this.fail("bad_header", "A part has a header line without a name and ':'. Each part needs headers like 'Content-Type: application/dicom', then an empty line.");
      const name = line.slice(0, colon).trim().toLowerCase();
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) this.fail("bad_header", "A part has a malformed header name.");
      if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
      last = name;
    }
    return headers;
  }

  /** The next piece of the current body, or null at its end (the delimiter is consumed). */
  async bodyChunk(): Promise<Buffer | null> {
    if (!this.bodyOpen) return null;
    for (;;) {
      const at = this.buf.indexOf(this.delim);
      if (at >= 0) {
        const out = this.buf.subarray(0, at);
        this.buf = this.buf.subarray(at + this.delim.length);
        this.bodyOpen = false;
        return out;
      }
      // Everything except a possible delimiter start at the end is body.
      const keep = Math.min(this.buf.length, this.delim.length - 1);
      const safe = this.buf.length - keep;
      if (safe > 0) {
        const out = this.buf.subarray(0, safe);
        this.buf = this.buf.subarray(safe);
        return out;
      }
      if (!(await this.more())) {
        this.bodyOpen = false;
        this.fail("truncated", "The body ends inside a part, before its closing boundary. The upload was cut off; send it again.");
      }
    }
  }

  bodyIterable(): AsyncIterable<Buffer> {
    this.bodyOpen = true;
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const c = await self.bodyChunk();
          if (c === null) return;
          if (c.length) yield c;
        }
      },
    };
  }

  async drainBody(): Promise<void> {
    while ((await this.bodyChunk()) !== null);
  }

  async drainEpilogue(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (await this.more()) this.buf = Buffer.alloc(0);
  }
}
