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
  /** Largest single instance accepted over HTTP (STOW-RS parts, uploads, pulls), in MB. */
  ATRIUM_MAX_INSTANCE_MB: z.preprocess(emptyToUndefined, z.coerce.number().positive().default(4096)),
  /**
   * Senders first (lib/intake/priority): de-identification and archiving in this process pause while
   * instances arrive, for at most this many ms of continuous intake, then run one job at a time. 0: never pause.
   */
  ATRIUM_DEID_YIELD_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).default(30_000)),
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
});

export type AtriumEnv = z.infer<typeof envSchema>;

export function readEnv(source: Record<string, string | undefined> = process.env): AtriumEnv {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid environment: ${problems}`);
  }
  return parsed.data;
}

export function dataDir(env: AtriumEnv = readEnv()): string {
  return path.resolve(env.ATRIUM_DATA_DIR);
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

/** The site-wide called AE title (ATRIUM_AE_TITLE, default ATRIUM), upper case. */
export function siteAeTitle(env: AtriumEnv = readEnv()): string {
  return env.ATRIUM_AE_TITLE;
}
