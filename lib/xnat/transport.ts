// The HTTP layer of the XNAT client: one JSESSION per client (POST /data/JSESSION with Basic auth
// of user:password or alias:secret), reused through the JSESSIONID cookie; re-login once on 401;
// a per-attempt timeout; retries with exponential backoff and jitter for 5xx, 429 and network
// errors on idempotent calls; XNAT's session heartbeat; logout on close(). Connects through the
// outbound policy (lib/outbound: loopback, private, metadata… addresses refused unless
// ATRIUM_OUTBOUND_ALLOW lists them, checked on the address connected to), builds each request URL
// from the parsed root URL, and reads every answer up to a cap (undici, keep-alive by default).
import { childLog } from "@/lib/log";
import { BodyTooLargeError, OutboundRefusedError, humanBytes, outboundFetch, readBodyCapped, requestUrl, type OutboundInit, type OutboundPolicy } from "@/lib/outbound";
import {
  XnatError,
  extractServerMessage,
  hintForStatus,
  kindForStatus,
  redact,
  type XnatErrorKind,
} from "./errors";

const log = childLog("xnat");

export type XnatCredentials =
  | { username: string; password: string }
  /** An alias token from GET /data/services/tokens/issue (used exactly like a user/password). */
  | { alias: string; secret: string };

export interface RetryPolicy {
  /** Retries after the first attempt (0 = never retry). Default 4. */
  retries: number;
  /** First backoff delay; doubles each retry. Default 500 ms. */
  baseDelayMs: number;
  /** Upper bound of one delay (also caps Retry-After). Default 15 s. */
  maxDelayMs: number;
  /** Source of jitter in [0,1); replace in tests for determinism. */
  random: () => number;
  /** How to wait; replace in tests to record delays. */
  sleep: (ms: number) => Promise<void>;
}

export interface TransportOptions {
  /** Per-attempt time limit for ordinary calls (headers and body). Default 60 s. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Keep the XNAT session alive with GET /data/JSESSION, as xnatpy does. Default true. */
  heartbeat?: boolean;
  /**
   * Heartbeat period. Default as xnatpy: half the session timeout XNAT announces in
   * SESSION_EXPIRATION_TIME minus 20 s, at least 10 s (7 min when not announced).
   */
  heartbeatIntervalMs?: number;
  /** Send XNAT_CSRF on PUT/POST/DELETE (sites that enforce it). Default: only after a CSRF refusal. */
  csrf?: boolean;
  userAgent?: string;
  /** Which addresses may be connected to. Default: the site's (ATRIUM_OUTBOUND_ALLOW), read per request. */
  outbound?: OutboundPolicy;
  /** The most bytes of one answer read into memory. Default 64 MiB. */
  maxResponseBytes?: number;
}

export type QueryValue = string | number | boolean | undefined | null | readonly string[];
export type Query = Record<string, QueryValue>;

export interface RequestSpec {
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** API path, e.g. /data/projects/P (encoded already). */
  path: string;
  query?: Query;
  /** Builds the body for each attempt (a stream can be read only once). */
  body?: () => BodyInit | Promise<BodyInit>;
  contentType?: string;
  /** Status codes that count as success; anything else throws XnatError. Default [200, 201]. */
  accept?: readonly number[];
  /** Retry on 5xx/network errors. Default: true for GET/PUT/DELETE, false for POST. */
  retry?: boolean;
  timeoutMs?: number;
  /** Set false for calls that must not use or renew the session (login itself). */
  session?: boolean;
  /** The most bytes of the answer read into memory (default: the transport's maxResponseBytes). */
  maxBytes?: number;
}

export interface XnatResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  attempts: number;
  text(): string;
  json<T = unknown>(): T;
}

const defaultRetry: RetryPolicy = {
  retries: 4,
  baseDelayMs: 500,
  maxDelayMs: 15_000,
  random: Math.random,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** Exponential backoff with "equal jitter": half the step fixed, half random. */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs" | "random">): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(step / 2 + policy.random() * (step / 2));
}

function cookieValue(setCookies: string[], name: string): string | undefined {
  for (const c of setCookies) {
    const m = new RegExp(`^\\s*${name}=("?)([^";]*)\\1`).exec(c);
    if (m) return m[2];
  }
  return undefined;
}

function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; cause?: { name?: string } };
  return e?.name === "TimeoutError" || e?.cause?.name === "TimeoutError";
}

/** Default cap of one answer read into memory. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export class XnatTransport {
  readonly baseUrl: string;
  private readonly base: URL;
  private readonly outbound: OutboundPolicy | undefined;
  private readonly maxResponseBytes: number;
  private readonly credentials: XnatCredentials;
  private readonly secrets: string[];
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly heartbeatEnabled: boolean;
  private readonly heartbeatIntervalMs: number | undefined;
  private readonly userAgent: string;
  private csrfWanted: boolean;
  private csrfToken: string | undefined;
  private jsession: string | undefined;
  private loginInFlight: Promise<string> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Counters for monitoring and tests. */
  readonly stats = { requests: 0, retries: 0, logins: 0, reauths: 0 };

  constructor(baseUrl: string, credentials: XnatCredentials, options: TransportOptions = {}) {
    const u = new URL(baseUrl);
    if (u.username || u.password) {
      throw new XnatError({
        kind: "usage",
        method: "CONNECT",
        path: "/",
        hint: "Pass credentials separately, not inside the XNAT URL.",
      });
    }
    u.search = "";
    u.hash = "";
    this.baseUrl = u.toString().replace(/\/+$/, "");
    this.base = new URL(this.baseUrl);
    this.outbound = options.outbound;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.credentials = credentials;
    const [user, pass] = "alias" in credentials ? [credentials.alias, credentials.secret] : [credentials.username, credentials.password];
    this.secrets = [pass, Buffer.from(`${user}:${pass}`).toString("base64")];
    if ("alias" in credentials) this.secrets.push(credentials.alias);
    this.retry = { ...defaultRetry, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.heartbeatEnabled = options.heartbeat ?? true;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs;
    this.csrfWanted = options.csrf ?? false;
    this.userAgent = options.userAgent ?? "atrium-xnat/0.1";
  }

  get sessionId(): string | undefined {
    return this.jsession;
  }

  get retryPolicy(): RetryPolicy {
    return this.retry;
  }

  /** Removes credentials from a text (used for every message that goes into an error or a log). */
  scrub(text: string): string {
    return redact(text, this.secrets);
  }

  private basicAuth(): string {
    const [user, pass] =
      "alias" in this.credentials
        ? [this.credentials.alias, this.credentials.secret]
        : [this.credentials.username, this.credentials.password];
    return `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
  }

  /** Opens (or re-opens) the XNAT session. Concurrent callers share one login. */
  login(): Promise<string> {
    if (this.closed) {
      return Promise.reject(
        new XnatError({ kind: "usage", method: "POST", path: "/data/JSESSION", hint: "This client was closed; create a new one." }),
      );
    }
    this.loginInFlight ??= this.doLogin().finally(() => {
      this.loginInFlight = undefined;
    });
    return this.loginInFlight;
  }

  private async doLogin(): Promise<string> {
    this.stats.logins++;
    const res = await this.execute(
      { method: "POST", path: "/data/JSESSION", accept: [200], retry: true, session: false },
      { Authorization: this.basicAuth() },
    );
    const fromCookie = cookieValue(res.headers.getSetCookie(), "JSESSIONID");
    const body = res.text().trim();
    const id = /^[0-9A-Za-z]{16,}$/.test(body) ? body : fromCookie;
    if (!id) {
      throw new XnatError({
        kind: "auth",
        method: "POST",
        path: "/data/JSESSION",
        status: res.status,
        hint: "XNAT answered the login without a session id; is the URL the XNAT root (not a login page or proxy)?",
      });
    }
    this.jsession = id;
    if (this.csrfWanted) await this.fetchCsrfToken();
    this.scheduleHeartbeat(res.headers.getSetCookie());
    return id;
  }

  private async fetchCsrfToken(): Promise<void> {
    const res = await this.execute(
      { method: "GET", path: "/data/auth", query: { csrf: "true" }, accept: [200], retry: true },
      { Cookie: `JSESSIONID=${this.jsession}` },
    );
    const m = /XNAT_CSRF=([A-Za-z0-9-]+)/.exec(res.text());
    this.csrfToken = m?.[1];
  }

  private scheduleHeartbeat(setCookies: string[]): void {
    if (!this.heartbeatEnabled) return;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    // SESSION_EXPIRATION_TIME="<epochMillis>,<timeoutMillis>"; xnatpy beats at half the timeout
    // minus 20 s, at least every 10 s; default 7 minutes.
    const raw = cookieValue(setCookies, "SESSION_EXPIRATION_TIME");
    const timeout = raw ? Number(raw.split(",")[1]) : NaN;
    const every =
      this.heartbeatIntervalMs ?? (Number.isFinite(timeout) && timeout > 0 ? Math.max(10_000, timeout / 2 - 20_000) : 7 * 60_000);
    this.heartbeatTimer = setInterval(() => {
      this.request({ method: "GET", path: "/data/JSESSION", accept: [200] }).catch((err: unknown) => {
        log.warn({ reason: err instanceof XnatError ? err.kind : "error" }, "xnat heartbeat failed");
      });
    }, every);
    this.heartbeatTimer.unref();
  }

  /** Logs out (DELETE /data/JSESSION) and stops the heartbeat. Safe to call twice. */
  async close(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    if (this.closed) return;
    const id = this.jsession;
    if (id) {
      try {
        await this.execute(
          { method: "DELETE", path: "/data/JSESSION/", accept: [200, 204, 401], retry: false, timeoutMs: Math.min(this.timeoutMs, 10_000) },
          { Cookie: `JSESSIONID=${id}` },
        );
      } catch (err) {
        log.warn({ reason: err instanceof XnatError ? err.kind : "error" }, "xnat logout failed");
      }
    }
    this.jsession = undefined;
    this.closed = true;
  }

  /** One call with session handling, re-login on 401 and retries. Throws XnatError. */
  async request(spec: RequestSpec): Promise<XnatResponse> {
    if (spec.session === false) return this.execute(spec, {});
    if (!this.jsession) await this.login();
    let reloggedIn = false;
    let csrfRetried = false;
    for (;;) {
      const usedSession = this.jsession;
      const headers: Record<string, string> = { Cookie: `JSESSIONID=${usedSession}` };
      const query = this.csrfToken && spec.method !== "GET" ? { ...spec.query, XNAT_CSRF: this.csrfToken } : spec.query;
      const accept = [...(spec.accept ?? [200, 201]), 401, 403];
      const res = await this.execute({ ...spec, query, accept }, headers);
      if (res.status === 401 && !(spec.accept ?? []).includes(401)) {
        if (reloggedIn) throw this.statusError(spec, res);
        reloggedIn = true;
        this.stats.reauths++;
        // Concurrent calls that met the same dead session share one login (login() is
        // single-flight); a call whose session was already replaced just retries.
        if (this.jsession === usedSession) await this.login();
        else if (this.loginInFlight) await this.loginInFlight;
        continue;
      }
      if (res.status === 403 && !(spec.accept ?? []).includes(403)) {
        if (!csrfRetried && /csrf/i.test(res.text()) && spec.method !== "GET") {
          csrfRetried = true;
          this.csrfWanted = true;
          await this.fetchCsrfToken();
          continue;
        }
        throw this.statusError(spec, res);
      }
      return res;
    }
  }

  private statusError(spec: RequestSpec, res: XnatResponse): XnatError {
    const kind: XnatErrorKind = kindForStatus(res.status);
    return new XnatError({
      kind,
      method: spec.method,
      path: spec.path,
      status: res.status,
      serverMessage: this.scrubMessage(res),
      hint: hintForStatus(res.status, spec.method),
      attempts: res.attempts,
    });
  }

  private scrubMessage(res: XnatResponse): string | undefined {
    const m = extractServerMessage(res.text());
    return m ? this.scrub(m) : undefined;
  }

  /** The attempt loop without session logic: timeouts, retries, backoff, error mapping. */
  private async execute(spec: RequestSpec, extraHeaders: Record<string, string>): Promise<XnatResponse> {
    const accept = spec.accept ?? [200, 201];
    const canRetry = spec.retry ?? spec.method !== "POST";
    // From parsed parts: the root URL's origin and path, then the call's path and query.
    const url = requestUrl(this.base, spec.path, spec.query);
    const maxBytes = spec.maxBytes ?? this.maxResponseBytes;
    const timeoutMs = spec.timeoutMs ?? this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const attempts = attempt + 1;
      const mayRetry = canRetry && attempt < this.retry.retries;
      this.stats.requests++;
      let res: XnatResponse;
      try {
        const body = spec.body ? await spec.body() : undefined;
        const headers: Record<string, string> = { "User-Agent": this.userAgent, ...extraHeaders };
        if (spec.contentType) headers["Content-Type"] = spec.contentType;
        const init: RequestInit & { duplex?: "half" } = {
          method: spec.method,
          headers,
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutMs),
        };
        if (body && typeof (body as ReadableStream).getReader === "function") init.duplex = "half";
        const r = await outboundFetch(url, init as OutboundInit, this.outbound);
        const buf = await readBodyCapped(r as unknown as Response, maxBytes);
        res = {
          status: r.status,
          headers: r.headers as unknown as Headers,
          body: buf,
          attempts,
          text: () => buf.toString("utf8"),
          json: <T>() => JSON.parse(buf.toString("utf8")) as T,
        };
      } catch (err) {
        if (err instanceof XnatError) throw err;
        if (err instanceof OutboundRefusedError) {
          throw new XnatError({ kind: "refused", method: spec.method, path: spec.path, status: null, hint: err.message, attempts });
        }
        if (err instanceof BodyTooLargeError) {
          throw new XnatError({
            kind: "too-large",
            method: spec.method,
            path: spec.path,
            status: null,
            serverMessage: `the answer is larger than ${humanBytes(maxBytes)}`,
            hint: "Atrium stopped reading it; check that the URL is the XNAT's root (not another service).",
            attempts,
          });
        }
        const timeout = isTimeout(err);
        const code = (err as { cause?: { code?: string } })?.cause?.code;
        if (mayRetry) {
          const delay = backoffDelay(attempt, this.retry);
          this.stats.retries++;
          log.warn({ method: spec.method, path: spec.path, attempt: attempts, reason: timeout ? "timeout" : (code ?? "network"), delayMs: delay }, "xnat call failed, retrying");
          await this.retry.sleep(delay);
          continue;
        }
        throw new XnatError({
          kind: timeout ? "timeout" : "network",
          method: spec.method,
          path: spec.path,
          status: null,
          serverMessage: timeout ? `no answer within ${timeoutMs} ms` : code ? `connection error ${code}` : "connection failed",
          hint: timeout
            ? "XNAT did not answer in time; it may be overloaded. The call can be retried later; raise timeoutMs for large uploads."
            : "XNAT could not be reached or dropped the connection; check the URL, network and that XNAT is running.",
          attempts,
          cause: err,
        });
      }
      if (accept.includes(res.status)) return res;
      const transient = res.status >= 500 || res.status === 429;
      if (transient && mayRetry) {
        let delay = backoffDelay(attempt, this.retry);
        const ra = Number(res.headers.get("retry-after"));
        if (Number.isFinite(ra) && ra > 0) delay = Math.min(this.retry.maxDelayMs, Math.max(delay, ra * 1000));
        this.stats.retries++;
        log.warn({ method: spec.method, path: spec.path, attempt: attempts, status: res.status, delayMs: delay }, "xnat call failed, retrying");
        await this.retry.sleep(delay);
        continue;
      }
      if (res.status === 401 && spec.session === false && spec.path === "/data/JSESSION") {
        throw new XnatError({
          kind: "auth",
          method: spec.method,
          path: spec.path,
          status: 401,
          serverMessage: this.scrubMessage(res),
          hint:
            "alias" in this.credentials
              ? "XNAT refused the alias token: it is wrong, expired (default 48 h) or invalidated. Issue a new token."
              : "XNAT refused the user name or password. Check them (and that the account is enabled and not locked).",
          attempts,
        });
      }
      throw this.statusError(spec, res);
    }
  }
}
