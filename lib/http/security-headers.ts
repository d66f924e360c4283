// Security headers of every response the portal serves (set by `atrium start`, cli/commands/start.ts).
// The Content Security Policy allows scripts only from this origin or carrying the request's nonce
// (Next.js puts it on its inline scripts when it finds it in the request's CSP header; the root
// layout puts it on Mantine's colour-scheme script). Styles may be inline: Mantine writes CSS
// variables and style attributes at run time. Nothing may frame the portal.

export interface SecurityHeaderOptions {
  /** A fresh random value per request (base64). */
  nonce: string;
  /** The portal is served over https (adds HSTS and upgrade-insecure-requests). */
  https: boolean;
  /** Extra origins forms may post to (e.g. the OIDC issuer), besides this site. */
  formActionOrigins?: string[];
}

export function contentSecurityPolicy(o: SecurityHeaderOptions): string {
  const directives = [
    "default-src 'self'",
    // 'wasm-unsafe-eval': WebAssembly image decoders (viewers) compile in the browser; no JS eval.
    `script-src 'self' 'nonce-${o.nonce}' 'wasm-unsafe-eval'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    `form-action ${["'self'", ...(o.formActionOrigins ?? [])].join(" ")}`,
    "frame-ancestors 'none'",
    ...(o.https ? ["upgrade-insecure-requests"] : []),
  ];
  return directives.join("; ");
}

export function securityHeaders(o: SecurityHeaderOptions): Record<string, string> {
  return {
    "content-security-policy": contentSecurityPolicy(o),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    ...(o.https ? { "strict-transport-security": "max-age=31536000" } : {}),
  };
}

/** The request header through which the server hands the nonce to the root layout. */
export const NONCE_HEADER = "x-atrium-nonce";
