// The audit log: every change of a project, its members or settings is written here, in the
// same transaction as the change itself.
import type { Prisma } from "@/server/db/generated/client";

type Tx = Pick<Prisma.TransactionClient, "auditEvent">;

export interface AuditEntry {
  projectId: string | null;
  actorId: string | null;
  action: string;
  targetType?: string;
  targetId?: string;
  before?: Prisma.InputJsonValue;
  after?: Prisma.InputJsonValue;
}

export async function writeAudit(tx: Tx, entry: AuditEntry): Promise<void> {
  await tx.auditEvent.create({ data: entry });
}

/** An audit event as the audit views show it (project log and site log alike). */
export function auditEventView(e: {
  id: bigint;
  createdAt: Date;
  action: string;
  actor: { name: string | null; email: string | null } | null;
  targetType: string | null;
  targetId: string | null;
  before: Prisma.JsonValue;
  after: Prisma.JsonValue;
}) {
  return {
    id: e.id.toString(),
    at: e.createdAt,
    action: e.action,
    actor: e.actor ? (e.actor.name ?? e.actor.email) : "system",
    actorEmail: e.actor?.email ?? null,
    targetType: e.targetType,
    targetId: e.targetId,
    before: e.before,
    after: e.after,
  };
}
