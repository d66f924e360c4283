// Step 1 of intake, shared by every way in (C-STORE, STOW-RS, webhook pulls, browser upload):
// a file already durable in staging is recorded in PostgreSQL, routed or quarantined, and only
// then may the sender be told it was received. De-identification is queued after the record
// commits; if Redis is away, the record is enough: recovery re-queues every `received` instance.
import { randomUUID } from "node:crypto";
import path from "node:path";
import type { PrismaClient } from "@/server/db/generated/client";
import { sqlRows } from "@/server/db";
import { childLog } from "@/lib/log";

const log = childLog("intake");

export interface StagedFile {
  /** Absolute path of the staged file (inside the data directory). */
  path: string;
  sizeBytes: number;
  sha256: string;
  sopClassUid?: string | null;
  sopInstanceUid?: string | null;
  transferSyntaxUid?: string | null;
}

export interface ReceiveContext {
  channel: "cstore" | "stow" | "webhook" | "upload";
  batchId: string;
  callingAe?: string | null;
  calledAe?: string | null;
  remoteAddress?: string | null;
}

/**
 * Where an instance goes: into a project, or into quarantine with a reason (for people) and a
 * reason code (for filters). A quarantined instance may still belong to a project (its routing
 * rules did not match), so that the project's owners see it and can act on it.
 */
export type Route =
  | { projectId: string; quarantine?: undefined }
  | { projectId: string | null; quarantine: { reason: string; code: string } };

const RECORD_RECEIVED_SQL = `
  WITH i AS (
    INSERT INTO "ReceivedInstance" (id, "receivedAt", "updatedAt", channel, "projectId", "batchId", "callingAe", "calledAe", "remoteAddress",
      "sopClassUid", "sopInstanceUid", "transferSyntaxUid", "stagingPath", "sizeBytes", sha256, status, reason, "reasonCode")
    VALUES ($1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', $2::"IntakeChannel", $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
      $14::"InstanceStatus", $15, $16)
    RETURNING id)
  INSERT INTO "InstanceEvent" ("instanceId", at, step, detail)
  SELECT i.id, now() AT TIME ZONE 'UTC', e.step, e.detail::jsonb
  FROM i, (VALUES (1, 'received', $17::text), (2, $18::text, $19::text)) AS e(n, step, detail)
  ORDER BY e.n`;

/**
 * Records a staged instance and its first events in one SQL statement (one round trip, one
 * commit): this runs while the sender waits for its status, once per instance.
 */
export async function recordReceived(prisma: PrismaClient, dataDir: string, file: StagedFile, ctx: ReceiveContext, route: Route) {
  const stagingPath = path.relative(dataDir, file.path);
  if (stagingPath.startsWith("..")) throw new Error("A staged file must be inside the data directory.");
  const q = route.quarantine ?? null;
  const id = randomUUID();
  const status = q ? "quarantined" : "received";
  const reason = q ? q.reason : null;
  const reasonCode = q ? q.code : null;
  const receivedDetail = JSON.stringify({ channel: ctx.channel, batchId: ctx.batchId, sizeBytes: file.sizeBytes });
  const [secondStep, secondDetail] = q
    ? ["quarantined", JSON.stringify({ reason: q.reason, code: q.code, projectId: route.projectId })]
    : ["routed", JSON.stringify({ projectId: route.projectId })];
  const params = [
    id, ctx.channel, route.projectId, ctx.batchId, ctx.callingAe ?? null, ctx.calledAe ?? null, ctx.remoteAddress ?? null,
    file.sopClassUid ?? null, file.sopInstanceUid ?? null, file.transferSyntaxUid ?? null, stagingPath, file.sizeBytes, file.sha256,
    status, reason, reasonCode, receivedDetail, secondStep, secondDetail,
  ];
  await sqlRows(prisma, RECORD_RECEIVED_SQL, params);
  log.debug({ instanceId: id, channel: ctx.channel, status }, "instance recorded");
  return { id, projectId: route.projectId, status } as const;
}
