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
