// The callback-execution protocol of Study Governor's /api/v2 (issue #16): the PUT body schema
// shared by the route and its tests, the secret (256 hex chars, stored hashed) and the rules for
// an update (403 on a wrong secret, 409 once resolved).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { EXEC_RESULTS, EXEC_STATUSES, isResolved, type ExecStatus } from "./engine";

export const callbackExecutionUpdateSchema = z
  .object({
    status: z.enum(EXEC_STATUSES).optional(),
    result: z.enum(EXEC_RESULTS).optional(),
    run_log: z.string().max(1_000_000).optional(),
    result_log: z.string().max(1_000_000).optional(),
    result_values: z.record(z.string(), z.unknown()).nullable().optional(),
    /** v8 API field; the reviewed runner sends `secret` instead: both are accepted */
    secret_key: z.string().optional(),
    secret: z.string().optional(),
  })
  .strict();
export type CallbackExecutionUpdate = z.infer<typeof callbackExecutionUpdateSchema>;

export const experimentStateUpdateSchema = z.object({ state_label: z.string().min(1), freetext: z.string().max(10_000).optional() }).strict();

/** Study Governor's secrets.token_hex(128). */
export function newCallbackSecret(): string {
  return randomBytes(128).toString("hex");
}
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}
export function secretMatches(storedHash: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(hashSecret(given), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

export type UpdateVerdict = { ok: true } | { ok: false; status: 403 | 409; error: string };

/** Whether an update may be applied: the secret must match and the execution must be unresolved. */
export function checkUpdate(current: { status: ExecStatus; secretHash: string }, body: CallbackExecutionUpdate): UpdateVerdict {
  if (!secretMatches(current.secretHash, body.secret_key ?? body.secret))
    return { ok: false, status: 403, error: "the secret_key does not match this callback execution" };
  if (isResolved(current.status))
    return { ok: false, status: 409, error: `this callback execution is already resolved (${current.status}); it cannot change` };
  return { ok: true };
}
