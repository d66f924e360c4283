// What a caller may be told about an error, decided in one place for the tRPC API (server/trpc/init)
// and the HTTP routes (server/http/errors): a database message never reaches a caller.
//  - Prisma P2002 (unique constraint) → CONFLICT, naming the model and fields, never the values;
//  - Prisma P2025 (record not found)   → NOT_FOUND;
//  - any other database or unexpected error → INTERNAL, "something went wrong (reference X)", and
//    the reference is logged server-side with the error's name and code (never its message, which
//    may quote stored values).
// Framework-free: Prisma errors are recognised by their name and code, not by importing Prisma.
import { randomBytes } from "node:crypto";

export type PublicErrorCode = "CONFLICT" | "NOT_FOUND" | "INTERNAL_SERVER_ERROR";

export interface PublicError {
  code: PublicErrorCode;
  message: string;
  /** For INTERNAL: the reference logged server-side, which the message quotes. */
  ref?: string;
}

/** What the server log records about an error mapped to INTERNAL (no message: it may hold values). */
export interface InternalErrorLog {
  ref: string;
  name: string;
  prismaCode?: string;
  pgCode?: string;
  model?: string;
}

interface PrismaLike {
  name: string;
  code: string;
  meta?: Record<string, unknown>;
}

const PRISMA_ERROR_NAMES = new Set([
  "PrismaClientKnownRequestError",
  "PrismaClientUnknownRequestError",
  "PrismaClientRustPanicError",
  "PrismaClientInitializationError",
  "PrismaClientValidationError",
  "DriverAdapterError",
]);

/** Whether `e` (or its cause chain) is an error of the database layer (Prisma, the pg driver). */
export function isDatabaseError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const name = (cur as { name?: unknown }).name;
    if (typeof name === "string" && PRISMA_ERROR_NAMES.has(name)) return true;
    // node-postgres' DatabaseError carries a five-character SQLSTATE and a severity.
    if (name === "DatabaseError" || (typeof (cur as { severity?: unknown }).severity === "string" && /^[0-9A-Z]{5}$/.test(String((cur as { code?: unknown }).code)))) return true;
  }
  return false;
}

function prismaKnown(e: unknown): PrismaLike | null {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const c = cur as Partial<PrismaLike>;
    if (c.name === "PrismaClientKnownRequestError" && typeof c.code === "string") return c as PrismaLike;
  }
  return null;
}

/**
 * Text that betrays a database message: Postgres' wording, Prisma's invocation dumps and codes.
 * Used to refuse such text even where code wrapped a database error's message into its own.
 */
const DATABASE_TEXT = [
  /duplicate key value/i,
  /violates (unique|foreign key|not-null|check) constraint/i,
  /relation "[^"]*" does not exist/i,
  /column "[^"]*" (of relation "[^"]*" )?does not exist/i,
  /\bpg_[a-z_]+\b/,
  /\bprisma\.[a-zA-Z]+\.[a-zA-Z]+\(/,
  /Invalid `[^`]*` invocation/,
  /\bP[1-3]\d{3}\b/,
  /PrismaClient[A-Za-z]*Error/,
  /DriverAdapterError/,
  /Unique constraint failed/i,
  /Foreign key constraint (failed|violated)/i,
  /\bSQLSTATE\b/i,
  /syntax error at or near/i,
  /connect ECONNREFUSED/,
  /terminating connection/i,
  /database "[^"]*" does not exist/i,
];

export function looksLikeDatabaseMessage(text: string): boolean {
  return DATABASE_TEXT.some((re) => re.test(text));
}

/** A model name as people say it: "AeRoute" → "AE route", "ProjectMember" → "project member". */
export function humanModel(model: string): string {
  const known: Record<string, string> = { AeRoute: "AE route", ApiToken: "API token", AuditEvent: "audit event" };
  if (known[model]) return known[model]!;
  return model.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
}

function humanField(field: string): string {
  return field.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/_/g, " ").toLowerCase().replace(/\bae\b/g, "AE").replace(/\bid\b/g, "ID");
}

/** The fields of a unique-constraint failure, from Prisma's meta (classic engine or driver adapter). */
function uniqueFields(meta: Record<string, unknown> | undefined): string[] {
  if (!meta) return [];
  const target = meta.target;
  if (Array.isArray(target)) return target.map(String);
  if (typeof target === "string") {
    // "AeRoute_pkey", "User_email_key": the middle part names the fields.
    const m = /^[A-Za-z]+_(.+)_(key|pkey)$/.exec(target);
    return m && m[1] !== undefined && m[2] === "key" ? m[1].split("_") : [];
  }
  const fields = (meta.driverAdapterError as { cause?: { constraint?: { fields?: unknown } } } | undefined)?.cause?.constraint?.fields;
  return Array.isArray(fields) ? fields.map((f) => String(f).replace(/^"|"$/g, "")) : [];
}

export function newErrorRef(): string {
  return randomBytes(4).toString("hex").toUpperCase();
}

export function internalError(ref = newErrorRef()): PublicError {
  return {
    code: "INTERNAL_SERVER_ERROR",
    ref,
    message: `Something went wrong on the server (reference ${ref}). Try again; if it keeps happening, give this reference to your administrator.`,
  };
}

/** The log record of an error mapped to INTERNAL: its kind and codes, never its message. */
export function internalErrorLog(e: unknown, ref: string): InternalErrorLog {
  const out: InternalErrorLog = { ref, name: "Error" };
  for (let cur: unknown = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const c = cur as { name?: unknown; code?: unknown; meta?: { modelName?: unknown } };
    if (depth === 0 || (typeof c.name === "string" && c.name !== "Error" && c.name !== "TRPCError")) out.name = typeof c.name === "string" ? c.name : out.name;
    if (typeof c.code === "string" && /^P\d{4}$/.test(c.code)) out.prismaCode ??= c.code;
    if (typeof c.code === "string" && /^[0-9A-Z]{5}$/.test(c.code) && !/^P\d{4}$/.test(c.code)) out.pgCode ??= c.code;
    if (typeof c.meta?.modelName === "string") out.model ??= c.meta.modelName;
  }
  return out;
}

/**
 * The public form of a database error (null for an error that is not the database's: the caller
 * keeps its own handling of those). P2002 → CONFLICT, P2025 → NOT_FOUND, others → INTERNAL.
 */
export function publicDatabaseError(e: unknown): PublicError | null {
  const known = prismaKnown(e);
  if (known?.code === "P2002") {
    const model = typeof known.meta?.modelName === "string" ? humanModel(known.meta.modelName) : "record";
    const fields = uniqueFields(known.meta).map(humanField);
    const what = fields.length ? `this ${fields.join(" and ")}` : "these values";
    return {
      code: "CONFLICT",
      message: `A${/^([aeio]|AE|API)/.test(model) ? "n" : ""} ${model} with ${what} already exists. Choose another, or reload to see the current state.`,
    };
  }
  if (known?.code === "P2025") {
    const model = typeof known.meta?.modelName === "string" ? humanModel(known.meta.modelName) : "record";
    return { code: "NOT_FOUND", message: `The ${model} was not found: it may have been removed meanwhile. Reload and try again.` };
  }
  if (isDatabaseError(e)) return internalError();
  return null;
}
