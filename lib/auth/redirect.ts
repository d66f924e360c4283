// Where to send a user after signing in: only a path of this site. `//evil.example`, `/\evil.example`,
// `https://evil.example`, `javascript:…` and anything with control characters fall back.

const DEFAULT_AFTER_SIGN_IN = "/projects";

/**
 * `url` if it is a same-origin relative path ("/projects/X?tab=intake"), else `fallback`.
 * A path must start with a single "/" followed by something other than "/" or "\" (browsers
 * read both "//host" and "/\host" as another host), and carry no control characters or
 * backslashes at all.
 */
export function safeCallbackPath(url: string | null | undefined, fallback = DEFAULT_AFTER_SIGN_IN, ownOrigin?: string): string {
  if (typeof url !== "string" || url.length === 0 || url.length > 2048) return fallback;
  // next-auth hands back absolute URLs of this site (its own origin, NEXTAUTH_URL): keep their path.
  if (ownOrigin && /^https?:\/\//i.test(url)) {
    try {
      const u = new URL(url);
      if (u.origin === new URL(ownOrigin).origin) return safeCallbackPath(`${u.pathname}${u.search}${u.hash}`, fallback);
    } catch {
      return fallback;
    }
    return fallback;
  }
  if (!url.startsWith("/") || url.startsWith("//")) return fallback;
  if (/[\\\u0000-\u001f\u007f]/.test(url)) return fallback;
  // Resolve against a placeholder origin: what stays on it is a path of ours.
  const base = "http://atrium.invalid";
  let resolved: URL;
  try {
    resolved = new URL(url, base);
  } catch {
    return fallback;
  }
  if (resolved.origin !== base) return fallback;
  return `${resolved.pathname}${resolved.search}${resolved.hash}`;
}

/** next-auth's redirect callback: an absolute URL of this site or a safe path; anything else goes to the default. */
export function safeAuthRedirect(url: string, baseUrl: string): string {
  const base = new URL(baseUrl);
  if (url.startsWith("/")) return `${base.origin}${safeCallbackPath(url)}`;
  try {
    const u = new URL(url);
    if (u.origin === base.origin) return `${base.origin}${safeCallbackPath(`${u.pathname}${u.search}${u.hash}`)}`;
  } catch {
    // not a URL: the default
  }
  return `${base.origin}${DEFAULT_AFTER_SIGN_IN}`;
}
