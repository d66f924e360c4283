// The operator channel between the `atrium` command and a running Atrium on the same machine:
// commands that must go through the running process (the embedded database serves one process)
// call /api/internal/* with a token kept in the data directory (mode 0600), so only someone who
// can read the data directory can use it.
import { timingSafeEqual } from "node:crypto";
import { dataDir } from "@/lib/config";
import { persistentSecret } from "@/server/launch/secret";

const TOKEN_FILE = "operator-token";

export function operatorToken(dir = dataDir()): string {
  return persistentSecret(dir, TOKEN_FILE);
}

export function isOperator(headers: Headers): boolean {
  const given = /^Bearer (.+)$/.exec(headers.get("authorization") ?? "")?.[1];
  if (!given) return false;
  const expected = Buffer.from(operatorToken());
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** The DICOM listener's port as `atrium start` opened it (0: off). */
export function listeningDicomPort(): number {
  return Number(process.env.ATRIUM_DICOM_LISTENING_PORT ?? 0);
}

/** Calls a running Atrium's operator API; null when nothing answers at `baseUrl`. */
export async function callOperator<T>(baseUrl: string, pathname: string, init: { method?: string; body?: unknown; dir?: string } = {}): Promise<{ status: number; body: T } | null> {
  let r: Response;
  try {
    r = await fetch(new URL(pathname, baseUrl), {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${operatorToken(init.dir)}`, "content-type": "application/json" },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch {
    return null;
  }
  return { status: r.status, body: (await r.json().catch(() => ({}))) as T };
}
