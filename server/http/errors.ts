// The HTTP routes' twin of the tRPC error mapping (server/trpc/init publicTrpcError): what a route
// answers for an error it caught. A database error never reaches the caller: lib/errors maps it
// (P2002 → 409, P2025 → 404, others → 500 with a reference logged here).
import { TRPCError } from "@trpc/server";
import { internalError, internalErrorLog, looksLikeDatabaseMessage, publicDatabaseError, type PublicError } from "@/lib/errors";
import { childLog } from "@/lib/log";
import { jsonError } from "./access";

const log = childLog("http");

const STATUS: Record<string, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNPROCESSABLE_CONTENT: 422,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_SERVER_ERROR: 500,
};

/**
 * The response for an error a route caught: a TRPCError (from shared server code) keeps its status
 * and message; an Error whose message is meant for the caller keeps it with `fallbackStatus`;
 * a database error, or a message quoting one, is replaced (see lib/errors).
 */
export function errorResponse(e: unknown, route: string, fallbackStatus = 500): Response {
  let p: PublicError | null = publicDatabaseError(e);
  const message = e instanceof Error ? e.message : String(e);
  if (!p && looksLikeDatabaseMessage(message)) p = internalError();
  if (!p && fallbackStatus >= 500 && !(e instanceof TRPCError)) p = internalError();
  if (p) {
    if (p.ref) log.error({ route, ...internalErrorLog(e, p.ref) }, "route failed");
    return jsonError(STATUS[p.code] ?? 500, p.message);
  }
  if (e instanceof TRPCError) return jsonError(STATUS[e.code] ?? 500, e.message);
  return jsonError(fallbackStatus, message);
}
