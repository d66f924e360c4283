// Secrets kept at rest (webhook signing secrets, archive credentials): AES-256-GCM with a key
// from the environment. A sealed value is "v2.<iv>.<tag>.<ciphertext>" (base64url), bound by the
// cipher's additional authenticated data to where it is stored (table, row id, column: see
// server/secrets.ts), so a value copied into another row or column does not open. "v1" values
// (sealed before binding existed) still open without it; server/secrets.ts re-seals them as v2.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const VERSION = "v2";
const LEGACY = "v1";

export class SecretBoxError extends Error {}

/** Derives the 32-byte key from the configured secret (any length, high entropy). */
export function deriveKey(secret: string): Buffer {
  if (!secret || secret.length < 16) throw new SecretBoxError("The secret key must be at least 16 characters.");
  return Buffer.from(hkdfSync("sha256", Buffer.from(secret, "utf8"), Buffer.from("atrium"), Buffer.from("atrium secret box v1"), 32));
}

/** Seals `plaintext` bound to `aad` (where it will be stored, e.g. "WebhookSource:wh_…:secretSealed"). */
export function seal(plaintext: string, key: Buffer, aad: string): string {
  if (!aad) throw new SecretBoxError("A sealed secret must be bound to where it is stored.");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return [VERSION, iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), body.toString("base64url")].join(".");
}

/** A value sealed before secrets were bound to their row (opens without `aad`; re-seal it). */
export function isLegacySealed(sealed: string): boolean {
  return sealed.startsWith(`${LEGACY}.`);
}

/** Opens a value sealed for `aad`; a legacy v1 value opens whatever `aad` is. */
export function open(sealed: string, key: Buffer, aad: string): string {
  const parts = sealed.split(".");
  if (parts.length !== 4 || (parts[0] !== VERSION && parts[0] !== LEGACY)) throw new SecretBoxError("Not a sealed secret of a known version.");
  const [version, iv, tag, body] = parts as [string, string, string, string];
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
    if (version === VERSION) decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
  } catch {
    throw new SecretBoxError(
      "A stored secret cannot be decrypted: ATRIUM_SECRET_KEY (or NEXTAUTH_SECRET) changed since it was saved, or the value was copied from another record. Enter the secret again.",
    );
  }
}
