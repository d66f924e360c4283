// Secrets kept at rest (webhook signing secrets, archive credentials): AES-256-GCM with a key
// from the environment. A sealed value is "v1.<iv>.<tag>.<ciphertext>" (base64url), so a later
// key rotation can add "v2" without guessing what an old row holds.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const VERSION = "v1";

export class SecretBoxError extends Error {}

/** Derives the 32-byte key from the configured secret (any length, high entropy). */
export function deriveKey(secret: string): Buffer {
  if (!secret || secret.length < 16) throw new SecretBoxError("The secret key must be at least 16 characters.");
  return Buffer.from(hkdfSync("sha256", Buffer.from(secret, "utf8"), Buffer.from("atrium"), Buffer.from("atrium secret box v1"), 32));
}

export function seal(plaintext: string, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return [VERSION, iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), body.toString("base64url")].join(".");
}

export function open(sealed: string, key: Buffer): string {
  const parts = sealed.split(".");
  if (parts.length !== 4 || parts[0] !== VERSION) throw new SecretBoxError("Not a sealed secret of a known version.");
  const [, iv, tag, body] = parts as [string, string, string, string];
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
  } catch {
    throw new SecretBoxError("A stored secret cannot be decrypted: ATRIUM_SECRET_KEY (or NEXTAUTH_SECRET) changed since it was saved. Enter the secret again.");
  }
}
