// The process's key for secrets at rest: ATRIUM_SECRET_KEY, else derived from NEXTAUTH_SECRET
// (which `atrium start` generates once into the data directory). Portal and workers must share it.
import { readEnv } from "@/lib/config";
import { deriveKey, open, seal } from "@/lib/crypto/secret-box";

let cached: { source: string; key: Buffer } | null = null;

function key(): Buffer {
  const env = readEnv();
  const source = env.ATRIUM_SECRET_KEY ?? env.NEXTAUTH_SECRET;
  if (!source) throw new Error("No key for stored secrets: set ATRIUM_SECRET_KEY (or NEXTAUTH_SECRET) in the environment of the portal and the workers.");
  if (cached?.source !== source) cached = { source, key: deriveKey(source) };
  return cached.key;
}

export const sealSecret = (plaintext: string) => seal(plaintext, key());
export const openSecret = (sealed: string) => open(sealed, key());
