// URLs that project owners set (an XNAT's root, a webhook source's DICOM node): checked when
// saved (http(s) only; no credentials, query or fragment, not even an empty "?" or "#"; no
// literal address the outbound policy refuses) and stored as origin + path without a trailing
// slash. Request URLs are built from the parsed base and path segments, never by appending
// text to the owner's string, so no stored URL can choose another path (issue #17 §3).
import { z } from "zod";
import { decide, OutboundConfigError, parseIp, policyFromEnv, type OutboundPolicy } from "./policy";

export interface OwnerUrlMessages {
  /** Not an http(s) URL. */
  invalid: string;
  /** User or password in the URL. */
  credentials: string;
}

/** Why `raw` cannot be saved as an owner-set base URL, or null. */
export function ownerUrlProblem(raw: string, messages: OwnerUrlMessages, policy?: OutboundPolicy): string | null {
  if (!URL.canParse(raw)) return messages.invalid;
  const u = new URL(raw);
  if (u.protocol !== "http:" && u.protocol !== "https:") return messages.invalid;
  if (u.username || u.password) return messages.credentials;
  // URL drops an empty "?" or "#" from search/hash: look at the text itself.
  if (u.search || raw.includes("?")) return "Give the URL without a query string (nothing from \"?\" on): Atrium adds the paths and parameters it needs.";
  if (u.hash || raw.includes("#")) return "Give the URL without a fragment (nothing from \"#\" on).";
  const host = u.hostname;
  const literal = parseIp(host) !== null;
  if (!literal && host !== "localhost" && !host.endsWith(".localhost")) return null;
  let p: OutboundPolicy;
  try {
    p = policy ?? policyFromEnv();
  } catch (e) {
    if (e instanceof OutboundConfigError) return `${e.message} A site administrator must correct it first.`;
    throw e;
  }
  const d = decide(p, host, literal ? host : "127.0.0.1");
  return d.ok ? null : d.reason;
}

/** The stored form: origin and path, without a trailing slash. */
export function normalizeOwnerUrl(raw: string): string {
  const u = new URL(raw);
  return `${u.origin}${u.pathname}`.replace(/\/+$/, "");
}

/** A zod schema for an owner-set base URL (see ownerUrlProblem), normalized when valid. */
export function ownerUrlSchema(messages: OwnerUrlMessages) {
  return z
    .string()
    .trim()
    .max(500, "The URL is at most 500 characters.")
    .superRefine((raw, ctx) => {
      const problem = ownerUrlProblem(raw, messages);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .transform(normalizeOwnerUrl);
}

export class RequestPathError extends Error {
  override readonly name = "RequestPathError";
}

const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * The URL of `path` (already percent-encoded, starting with "/") below `base`'s path, with
 * `query` as its search. Whatever `base` holds after its path ("?…", "#…") is dropped; "?" and
 * "#" in `path` stay part of the path; "." and ".." segments are refused.
 */
export function requestUrl(base: string | URL, path: string, query?: Record<string, string | number | boolean | undefined | null | readonly string[]>): URL {
  const b = typeof base === "string" ? new URL(base) : base;
  if (!path.startsWith("/")) throw new RequestPathError("A request path starts with /.");
  const segments = path.slice(1).split("/");
  if (segments.some((s) => DOT_SEGMENT.test(s))) throw new RequestPathError("A request path may not contain . or .. segments.");
  const u = new URL(b.origin);
  u.pathname = `${b.pathname.replace(/\/+$/, "")}/${segments.map((s) => s.replace(/[?#]/g, encodeURIComponent)).join("/")}`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null) continue;
    for (const one of Array.isArray(v) ? v : [String(v)]) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(one)}`);
  }
  u.search = parts.join("&");
  return u;
}
