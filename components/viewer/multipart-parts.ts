// Reads a multipart/related body as it streams in, part by part, for the viewer's frame fetcher
// (a series' pixel data: 100 MB and more). Each part must say its size (Content-Length, as Atrium's
// DICOMweb does): its body is then copied out without searching it for the boundary, which for a
// 512 KB CT frame would cost more than the rest of the work. A part without Content-Length, or any
// framing that is not what RFC 2046 says, is an error: the caller then fetches frame by frame.
// Plain Uint8Array and TextDecoder: it runs in a browser worker (and in Node for its tests).

export interface Part {
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: Uint8Array;
}

export class MultipartReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultipartReadError";
  }
}

const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;
const MAX_HEADER_BYTES = 16 * 1024;

function indexOfSequence(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0]!;
  for (let i = haystack.indexOf(first, from); i >= 0 && i + needle.length <= haystack.length; i = haystack.indexOf(first, i + 1)) {
    let k = 1;
    while (k < needle.length && haystack[i + k] === needle[k]) k++;
    if (k === needle.length) return i;
  }
  return -1;
}

export async function* readParts(body: ReadableStream<Uint8Array>, boundary: string): AsyncGenerator<Part> {
  const reader = body.getReader();
  const ascii = new TextDecoder();
  const dashBoundary = new TextEncoder().encode(`--${boundary}`);
  let pending: Uint8Array = new Uint8Array(0);
  let ended = false;
  const more = async (): Promise<boolean> => {
    if (ended) return false;
    const { value, done } = await reader.read();
    if (done) {
      ended = true;
      return false;
    }
    if (!pending.length) pending = value;
    else {
      const joined = new Uint8Array(pending.length + value.length);
      joined.set(pending);
      joined.set(value, pending.length);
      pending = joined;
    }
    return true;
  };
  const need = async (n: number, what: string) => {
    while (pending.length < n) if (!(await more())) throw new MultipartReadError(`The multipart body ends inside ${what}.`);
  };
  try {
    // The first delimiter (a preamble before it is skipped, as RFC 2046 allows).
    let at: number;
    while ((at = indexOfSequence(pending, dashBoundary)) < 0) {
      if (pending.length > MAX_HEADER_BYTES) throw new MultipartReadError("The multipart body does not start with its boundary.");
      if (!(await more())) throw new MultipartReadError("The multipart body holds no part.");
    }
    pending = pending.subarray(at + dashBoundary.length);
    for (;;) {
      await need(2, "a boundary line");
      if (pending[0] === DASH && pending[1] === DASH) return; // the close delimiter
      if (pending[0] !== CR || pending[1] !== LF) throw new MultipartReadError("A boundary line is not followed by CRLF.");
      pending = pending.subarray(2);
      // Headers, up to the empty line.
      let end: number;
      while ((end = indexOfSequence(pending, new Uint8Array([CR, LF, CR, LF]))) < 0) {
        if (pending.length > MAX_HEADER_BYTES) throw new MultipartReadError("A part's headers are too large.");
        if (!(await more())) throw new MultipartReadError("The multipart body ends inside a part's headers.");
      }
      const headers = new Map<string, string>();
      for (const line of ascii.decode(pending.subarray(0, end)).split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) {
          const name = line.slice(0, colon).trim().toLowerCase();
          if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
        }
      }
      pending = pending.subarray(end + 4);
      const length = Number(headers.get("content-length"));
      if (!headers.has("content-length") || !Number.isSafeInteger(length) || length < 0) throw new MultipartReadError("A part has no Content-Length: it cannot be read without searching it for the boundary.");
      // The body, copied out of the chunks as they come.
      const out = new Uint8Array(length);
      let filled = Math.min(length, pending.length);
      out.set(pending.subarray(0, filled));
      pending = pending.subarray(filled);
      while (filled < length) {
        const { value, done } = await reader.read();
        if (done) throw new MultipartReadError("The multipart body ends inside a part.");
        const take = Math.min(length - filled, value.length);
        out.set(value.subarray(0, take), filled);
        filled += take;
        if (take < value.length) pending = value.subarray(take);
      }
      // CRLF, then the next delimiter.
      await need(2 + dashBoundary.length, "a delimiter");
      if (pending[0] !== CR || pending[1] !== LF || indexOfSequence(pending.subarray(2, 2 + dashBoundary.length), dashBoundary) !== 0) {
        throw new MultipartReadError("A part is longer than its Content-Length says.");
      }
      pending = pending.subarray(2 + dashBoundary.length);
      yield { headers, body: out };
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
