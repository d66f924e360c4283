import { hostname } from "node:os";
// The environment, parsed once. Every setting Atrium reads from the environment is here.
import path from "node:path";
import { z } from "zod";

const emptyToUndefined = (v: unknown) => (v === "" ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());

const envSchema = z.object({
  DATABASE_URL: optionalString,
  ATRIUM_DATA_DIR: z.preprocess(emptyToUndefined, z.string().default("./.atrium")),
  REDIS_URL: z.preprocess(emptyToUndefined, z.string().default("redis://127.0.0.1:6379")),
  ATRIUM_QUEUE_PREFIX: z.preprocess(emptyToUndefined, z.string().default("atrium")),
  PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().positive().default(3000)),
  /** The DICOM C-STORE listener's port; 0 turns it off. */
  ATRIUM_DICOM_PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).default(11112)),
  /** The host name senders use to reach the DICOM listener (shown on the Intake tab); default: this machine's host name. */
  ATRIUM_PUBLIC_DICOM_HOST: z.preprocess(emptyToUndefined, z.string().trim().min(1).max(255).optional()),
  /** The port senders use, when a proxy or NAT maps another one onto the listener; default ATRIUM_DICOM_PORT. */
  ATRIUM_PUBLIC_DICOM_PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(65535).optional()),
  /** The site-wide called AE title: instances sent to it are routed by the projects' routing rules. */
  ATRIUM_AE_TITLE: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .trim()
      .max(16, "an AE title is at most 16 characters")
      .regex(/^[\x20-\x5b\x5d-\x7e]+$/, "an AE title is printable ASCII without a backslash")
      .transform((s) => s.toUpperCase())
      .default("ATRIUM"),
  ),
  /**
   * Site AE title caller allow-list: comma-separated calling AE titles and/or addresses (IPs or CIDR
   * ranges). Empty: any caller (the default). When both are set, a caller must match both.
   */
  ATRIUM_SITE_CALLING_AETS: z.preprocess(emptyToUndefined, z.string().default("")),
  ATRIUM_SITE_CALLING_ADDRESSES: z.preprocess(emptyToUndefined, z.string().default("")),
  /** The DICOM listener: concurrent associations in all, and from one address (open connections: twice that). */
  ATRIUM_DICOM_MAX_ASSOCIATIONS: z.preprocess(emptyToUndefined, z.coerce.number().int().positive().default(64)),
  ATRIUM_DICOM_MAX_PER_ADDRESS: z.preprocess(emptyToUndefined, z.coerce.number().int().positive().default(16)),
  /** The DICOM listener: an association silent this long is aborted (s); at the limit, one silent for ATRIUM_DICOM_EVICT_IDLE_S gives way. */
  ATRIUM_DICOM_IDLE_TIMEOUT_S: z.preprocess(emptyToUndefined, z.coerce.number().positive().default(60)),
  ATRIUM_DICOM_EVICT_IDLE_S: z.preprocess(emptyToUndefined, z.coerce.number().min(0).default(10)),
  /**
   * Hours a staged original (identifying) is kept after its instance was de-identified, found a
   * duplicate or skipped; 0 (default): deleted at once. Quarantined originals stay until resolved.
   */
  ATRIUM_STAGING_RETENTION_HOURS: z.preprocess(emptyToUndefined, z.coerce.number().min(0).default(0)),
  /** Largest single instance accepted over HTTP (STOW-RS parts, uploads, pulls) and by C-STORE, in MB. */
  ATRIUM_MAX_INSTANCE_MB: z.preprocess(emptyToUndefined, z.coerce.number().positive().default(4096)),
  /** Browser upload: most bytes one zip archive may expand to (the DICOM entries it would stage), in MB. */
  ATRIUM_UPLOAD_EXPANDED_MB: z.preprocess(emptyToUndefined, z.coerce.number().positive().default(16_384)),
  /** Browser upload: most bytes one upload batch (a browser upload session) may stage, in MB. */
  ATRIUM_UPLOAD_BATCH_MB: z.preprocess(emptyToUndefined, z.coerce.number().positive().default(65_536)),
  /** Browser upload: largest ratio of expanded to compressed size of a zip archive (above 8 MB expanded). */
  ATRIUM_UPLOAD_MAX_RATIO: z.preprocess(emptyToUndefined, z.coerce.number().positive().default(100)),
  /**
   * Senders first (lib/intake/priority): de-identification and archiving in this process pause while
   * instances arrive, for at most this many ms of continuous intake, then run one job at a time. 0: never pause.
   */
  ATRIUM_DEID_YIELD_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).default(30_000)),
  /** DICOMweb reads of stored bytes are audited once per reader and study in this many minutes. */
  ATRIUM_READ_AUDIT_WINDOW_MIN: z.preprocess(emptyToUndefined, z.coerce.number().positive().default(60)),
  NEXTAUTH_URL: optionalString,
  NEXTAUTH_SECRET: optionalString,
  /** Key for secrets stored in the database (webhook secrets, archive credentials); default: derived from NEXTAUTH_SECRET. */
  ATRIUM_SECRET_KEY: optionalString,
  ATRIUM_OIDC_ISSUER: optionalString,
  ATRIUM_OIDC_CLIENT_ID: optionalString,
  ATRIUM_OIDC_CLIENT_SECRET: optionalString,
  ATRIUM_OIDC_NAME: z.preprocess(emptyToUndefined, z.string().default("Institute SSO")),
  ATRIUM_ADMINS: z.preprocess(emptyToUndefined, z.string().default("")),
  /** Set by `atrium start` from the launching environment: Next.js forces NODE_ENV=production at run time. */
  ATRIUM_DEV_SIGNIN: optionalString,
  NODE_ENV: optionalString,
  /** Bearer token for GET /metrics (Prometheus); without it only site admins' sessions may scrape. */
  ATRIUM_METRICS_TOKEN: optionalString,
  /** `1`: a reverse proxy in front sets X-Forwarded-Host/-Proto and they are believed; otherwise ignored. */
  ATRIUM_TRUST_PROXY: optionalString,
  /** `1`: the development sign-in is served on every interface, not only on localhost (never in production). */
  ATRIUM_DEV_SIGNIN_EXPOSE: optionalString,
  /** Where pipeline jobs get their work directories and logs (default <data dir>/compute); on a shared filesystem for SLURM. */
  ATRIUM_COMPUTE_DIR: optionalString,
  /** Running pipeline jobs per project at once (the rest wait in the queue), so one project cannot starve the others. */
  ATRIUM_COMPUTE_PROJECT_LIMIT: z.preprocess(emptyToUndefined, z.coerce.number().int().positive().default(8)),
});

export type AtriumEnv = z.infer<typeof envSchema>;

const ENV_KEYS = Object.keys(envSchema.shape);
/** The last parse of process.env, by the values of the keys it reads (a change in one parses again). */
let parsedProcessEnv: { values: (string | undefined)[]; env: AtriumEnv } | null = null;

export function readEnv(source: Record<string, string | undefined> = process.env): AtriumEnv {
  // process.env is read on hot paths (a pipeline job reads it several times): parsing it with zod
  // costs ~0.1 ms each time, reading its ~45 keys to see that nothing changed a few µs.
  const values = source === process.env ? ENV_KEYS.map((k) => source[k]) : null;
  if (values && parsedProcessEnv && values.every((v, i) => v === parsedProcessEnv!.values[i])) return parsedProcessEnv.env;
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid environment: ${problems}`);
  }
  // Shared by every caller while the environment stays the same: nobody may change it.
  const env = Object.freeze(parsed.data);
  if (values) parsedProcessEnv = { values, env };
  return env;
}

export function dataDir(env: AtriumEnv = readEnv()): string {
  return path.resolve(env.ATRIUM_DATA_DIR);
}

/** The root of pipeline runs' work directories and job logs. */
export function computeDir(env: AtriumEnv = readEnv()): string {
  return path.resolve(env.ATRIUM_COMPUTE_DIR ?? path.join(dataDir(env), "compute"));
}

export function siteAdminEmails(env: AtriumEnv = readEnv()): Set<string> {
  return new Set(
    env.ATRIUM_ADMINS.split(",")
      .map((e) => e.trim().toLowerCase())
      .filter(Boolean),
  );
}

export function oidcConfigured(env: AtriumEnv = readEnv()): boolean {
  return Boolean(env.ATRIUM_OIDC_ISSUER && env.ATRIUM_OIDC_CLIENT_ID && env.ATRIUM_OIDC_CLIENT_SECRET);
}

/** The development sign-in exists only without OIDC and outside production. */
export function devSignInEnabled(env: AtriumEnv = readEnv()): boolean {
  if (oidcConfigured(env)) return false;
  if (env.ATRIUM_DEV_SIGNIN !== undefined) return env.ATRIUM_DEV_SIGNIN === "1";
  return env.NODE_ENV !== "production";
}

/** ATRIUM_MAX_INSTANCE_MB in bytes. */
export function maxInstanceBytes(env: AtriumEnv = readEnv()): number {
  return Math.floor(env.ATRIUM_MAX_INSTANCE_MB * 1024 * 1024);
}

/** Where senders reach the DICOM listener: ATRIUM_PUBLIC_DICOM_HOST, else this machine's host name. */
export function publicDicomHost(env: AtriumEnv = readEnv()): string {
  return env.ATRIUM_PUBLIC_DICOM_HOST ?? hostname();
}

/** The port senders use: ATRIUM_PUBLIC_DICOM_PORT, else the listener's ATRIUM_DICOM_PORT (0: no listener). */
export function dicomPort(env: AtriumEnv = readEnv()): number {
  return env.ATRIUM_PUBLIC_DICOM_PORT ?? env.ATRIUM_DICOM_PORT;
}

/** The site-wide called AE title (ATRIUM_AE_TITLE, default ATRIUM), upper case. */
export function siteAeTitle(env: AtriumEnv = readEnv()): string {
  return env.ATRIUM_AE_TITLE;
}

/** ATRIUM_TRUST_PROXY=1 (or true): X-Forwarded-Host and X-Forwarded-Proto come from a proxy Atrium trusts. */
export function trustProxy(env: AtriumEnv = readEnv()): boolean {
  return env.ATRIUM_TRUST_PROXY === "1" || env.ATRIUM_TRUST_PROXY?.toLowerCase() === "true";
}

/** The portal is served over https (NEXTAUTH_URL says so): cookies get the Secure flag and the __Secure- prefix. */
export function servedOverHttps(env: AtriumEnv = readEnv()): boolean {
  return (env.NEXTAUTH_URL ?? "").toLowerCase().startsWith("https://");
}

/** The browser upload's bounds on what a zip archive and a batch may stage (ATRIUM_UPLOAD_*), in bytes. */
export function uploadLimits(env: AtriumEnv = readEnv()): { maxExpandedBytes: number; maxBatchBytes: number; maxRatio: number } {
  const mib = (n: number) => Math.floor(n * 1024 * 1024);
  return { maxExpandedBytes: mib(env.ATRIUM_UPLOAD_EXPANDED_MB), maxBatchBytes: mib(env.ATRIUM_UPLOAD_BATCH_MB), maxRatio: env.ATRIUM_UPLOAD_MAX_RATIO };
}

/** The site AE title's caller allow-list (ATRIUM_SITE_CALLING_AETS, ATRIUM_SITE_CALLING_ADDRESSES); empty lists: any caller. */
export function siteCallerAllowList(env: AtriumEnv = readEnv()): { callingAes: string[]; addresses: string[] } {
  const list = (v: string) =>
    v
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  return { callingAes: list(env.ATRIUM_SITE_CALLING_AETS).map((a) => a.toUpperCase()), addresses: list(env.ATRIUM_SITE_CALLING_ADDRESSES) };
}
