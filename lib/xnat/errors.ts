// Typed errors of the XNAT client. Every error says which call failed (method and path, never the
// query string), what XNAT answered, and what to do about it. Credentials never appear: the
// transport registers every secret it holds, and `redact()` removes them from any text that goes
// into an error.

export type XnatErrorKind =
  /** XNAT answered with a status the call does not accept. */
  | "http"
  /** Login refused (bad user/password, expired or invalid alias token). */
  | "auth"
  /** The account is logged in but lacks the rights for this call (403). */
  | "forbidden"
  /** The object does not exist (404). */
  | "not-found"
  /** XNAT refused because the target already exists or is locked (409, "Failed to archive"). */
  | "conflict"
  /** No answer: connection refused, reset or dropped. */
  | "network"
  /** No answer within the time limit. */
  | "timeout"
  /** XNAT accepted an upload but put it somewhere else than asked (silent fallback). */
  | "fallback"
  /** What arrived on XNAT differs from what was sent. */
  | "verification"
  /** The caller passed something the client refuses to send. */
  | "usage"
  /** The outbound policy refused the address (loopback, private, metadata… not on ATRIUM_OUTBOUND_ALLOW). */
  | "refused"
  /** The answer was larger than the most the client reads into memory. */
  | "too-large";

export interface XnatErrorInit {
  kind: XnatErrorKind;
  method: string;
  /** The request path without query string. */
  path: string;
  status?: number | null;
  /** The server's own message (HTML stripped, shortened, secrets removed). */
  serverMessage?: string;
  /** What the caller or an operator should do. */
  hint: string;
  /** How many attempts were made (1 = no retry). */
  attempts?: number;
  /** URIs XNAT returned, when the error is about where data went. */
  uris?: string[];
  cause?: unknown;
}

export class XnatError extends Error {
  override readonly name = "XnatError";
  readonly kind: XnatErrorKind;
  readonly status: number | null;
  readonly method: string;
  readonly path: string;
  readonly serverMessage: string | undefined;
  readonly hint: string;
  readonly attempts: number;
  readonly uris: string[] | undefined;

  constructor(init: XnatErrorInit) {
    const what = init.status ? `${init.status}` : init.kind;
    const said = init.serverMessage ? `: ${init.serverMessage}` : "";
    const tries = init.attempts && init.attempts > 1 ? ` after ${init.attempts} attempts` : "";
    super(`XNAT ${init.method} ${init.path} failed (${what})${tries}${said}. ${init.hint}`);
    this.kind = init.kind;
    this.status = init.status ?? null;
    this.method = init.method;
    this.path = init.path;
    this.serverMessage = init.serverMessage;
    this.hint = init.hint;
    this.attempts = init.attempts ?? 1;
    this.uris = init.uris;
    // Keep the cause's class and message for diagnosis, never its object (a fetch error's
    // cause can carry request details).
    if (init.cause instanceof Error) {
      Object.defineProperty(this, "causeDescription", {
        value: `${init.cause.name}: ${(init.cause as { code?: string }).code ?? init.cause.message}`,
        enumerable: true,
      });
    }
  }

  /**
   * The message without anything XNAT sent (its error text can be anything a server at that URL
   * answers): the call, the status or kind, and the advice. For people who are not site admins.
   */
  get publicMessage(): string {
    const what = this.status ? `${this.status}` : this.kind;
    const tries = this.attempts > 1 ? ` after ${this.attempts} attempts` : "";
    return `XNAT ${this.method} ${this.path} failed (${what})${tries}. ${this.hint}`;
  }

  /** True when repeating the same call later may succeed. */
  get retryable(): boolean {
    return (
      this.kind === "network" ||
      this.kind === "timeout" ||
      (this.kind === "http" && this.status !== null && (this.status >= 500 || this.status === 429))
    );
  }

  toJSON() {
    return {
      name: this.name,
      kind: this.kind,
      status: this.status,
      method: this.method,
      path: this.path,
      serverMessage: this.serverMessage,
      hint: this.hint,
      attempts: this.attempts,
      uris: this.uris,
      message: this.message,
    };
  }
}

/** Replaces every occurrence of each secret (and its base64 Basic form) by `[redacted]`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < 3) continue;
    out = out.split(s).join("[redacted]");
  }
  return out;
}

const REASON_PHRASES = new Set(
  [
    "bad request", "unauthorized", "forbidden", "not found", "method not allowed", "not acceptable", "conflict",
    "unprocessable entity", "internal server error", "bad gateway", "service unavailable", "gateway timeout", "status page",
  ],
);

/** The message XNAT put in an error body: Restlet/Tomcat HTML pages carry it in <h3> or <title>. */
export function extractServerMessage(body: string, max = 300): string | undefined {
  if (!body) return undefined;
  let text = body;
  if (/<html|<h\d|<body/i.test(body)) {
    const strip = (s: string) => s.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim();
    const h3 = /<h3[^>]*>([\s\S]*?)<\/h3>/i.exec(body);
    // Restlet status pages: <p>Reason Phrase</p><p>description</p><p>You can get technical details…</p>
    const paragraphs = [...body.matchAll(/<p[^>]*>([\s\S]*?)<\/p>/gi)]
      .map((m) => strip(m[1]!))
      .filter((t) => t && !/technical details|continue your visit/i.test(t) && !REASON_PHRASES.has(t.toLowerCase()));
    const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(body);
    text = h3 ? strip(h3[1]!) : paragraphs.length ? paragraphs.join(" ") : strip(title?.[1] ?? body);
  }
  text = text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ")
    .trim();
  if (!text) return undefined;
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The advice for a failed HTTP status, in the words an operator can act on. */
export function hintForStatus(status: number, method: string): string {
  if (status === 400) return "XNAT rejected the request as malformed; check the parameters and the uploaded data.";
  if (status === 401)
    return "XNAT did not accept the credentials. Check the user name and password, or issue a new alias token (tokens expire).";
  if (status === 403)
    return "The XNAT account lacks the rights for this; ask a project owner to add it as Member (to upload) or Owner (to delete).";
  if (status === 404) return "The object does not exist on XNAT, or the account may not see it; check the project, subject and experiment ids.";
  if (status === 405) return `XNAT does not allow ${method} here; this is a client bug, please report it.`;
  if (status === 406 || status === 415) return "XNAT did not accept the body format; send a raw body with the right Content-Type.";
  if (status === 409) return "The target is locked or already exists; wait and retry, or choose an overwrite mode.";
  if (status === 422) return "XNAT refused the document type; check the xsiType.";
  if (status === 429) return "XNAT is rate-limiting; retry later.";
  if (status >= 500) return "XNAT had an internal error; it is retried automatically, and if it persists check the XNAT server logs.";
  return "Unexpected answer from XNAT; check the XNAT server logs.";
}

export function kindForStatus(status: number): XnatErrorKind {
  if (status === 401) return "auth";
  if (status === 403) return "forbidden";
  if (status === 404) return "not-found";
  if (status === 409) return "conflict";
  return "http";
}
