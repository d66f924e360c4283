// Webhook signatures: X-Atrium-Signature = "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body),
// with X-Atrium-Timestamp the sender's unix time in seconds. Checking is constant-time; each
// refusal says what is wrong and what the sender should do.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-atrium-signature";
export const TIMESTAMP_HEADER = "x-atrium-timestamp";
/** How far the sender's clock may be from ours. */
export const MAX_SKEW_SECONDS = 300;

/** A new signing secret: 32 random bytes, base64url (43 characters, safe in shell and Lua strings). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

export function signatureHex(secret: string, timestamp: string, rawBody: Buffer | string): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex");
}

/** The two headers for a body, as a sender computes them. */
export function signWebhook(secret: string, rawBody: Buffer | string, nowSeconds = Math.floor(Date.now() / 1000)) {
  const timestamp = String(nowSeconds);
  return { "X-Atrium-Timestamp": timestamp, "X-Atrium-Signature": `sha256=${signatureHex(secret, timestamp, rawBody)}` };
}

export type SignatureCheck =
  | { ok: true; signature: string; timestamp: number }
  | { ok: false; message: string };

/**
 * Checks the headers of a request against the secret. `signature` (lower-case hex) identifies the
 * request for replay protection.
 */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp: string | null; signature: string | null },
  rawBody: Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
): SignatureCheck {
  if (!headers.timestamp || !headers.signature) {
    return { ok: false, message: "Missing X-Atrium-Timestamp or X-Atrium-Signature header. Sign each request: X-Atrium-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + \".\" + body)>." };
  }
  if (!/^\d{1,12}$/.test(headers.timestamp.trim())) {
    return { ok: false, message: "X-Atrium-Timestamp must be the current time in whole seconds since 1970 (unix time)." };
  }
  const timestamp = Number(headers.timestamp.trim());
  const skew = timestamp - nowSeconds;
  if (Math.abs(skew) > MAX_SKEW_SECONDS) {
    return {
      ok: false,
      message: `X-Atrium-Timestamp is ${Math.abs(skew)} s ${skew > 0 ? "ahead of" : "behind"} this server's clock (at most ${MAX_SKEW_SECONDS} s allowed). Sign each request when sending it, and check the sender's clock (NTP).`,
    };
  }
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(headers.signature.trim());
  if (!m) return { ok: false, message: "X-Atrium-Signature must be sha256=<64 hex digits>." };
  const given = Buffer.from(m[1]!.toLowerCase(), "hex");
  const expected = Buffer.from(signatureHex(secret, headers.timestamp.trim(), rawBody), "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, message: "The signature does not match. Sign timestamp + \".\" + the exact body bytes with this source's current secret (it changes when rotated)." };
  }
  return { ok: true, signature: m[1]!.toLowerCase(), timestamp };
}
