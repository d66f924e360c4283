// Reading an HTTP answer into memory, never more than a cap: whatever a remote server sends (an
// endless or enormous body), Atrium stops reading past `maxBytes` and says so (issue #17 §3).

export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
  constructor(readonly maxBytes: number) {
    super(`The answer is larger than ${humanBytes(maxBytes)}, the most Atrium reads into memory for it.`);
  }
}

export function humanBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / 1024 / 1024) * 10) / 10} MiB`;
  if (n >= 1024) return `${Math.round((n / 1024) * 10) / 10} KiB`;
  return `${n} bytes`;
}

/** The body of `res` (a fetch Response), at most `maxBytes`; throws BodyTooLargeError beyond (and stops the transfer). */
export async function readBodyCapped(res: { body: ReadableStream<Uint8Array> | null; headers: { get(name: string): string | null } }, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new BodyTooLargeError(maxBytes);
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

/** The body as UTF-8 text, at most `maxBytes`. */
export async function readTextCapped(res: Parameters<typeof readBodyCapped>[0], maxBytes: number): Promise<string> {
  return (await readBodyCapped(res, maxBytes)).toString("utf8");
}
