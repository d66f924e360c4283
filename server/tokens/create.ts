// Creating a project API token, for the portal (tRPC token.create) and for operators (`atrium token
// create`): the plaintext is returned this once, only its SHA-256 is kept, and the creation is audited.
import type { PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import { generateToken, type CreateTokenInput } from "@/lib/tokens";

const DAY_MS = 24 * 60 * 60 * 1000;

/** `createdById` null: created by an operator on the server's machine (recorded as such in the audit). */
export async function createProjectToken(prisma: PrismaClient, input: CreateTokenInput, createdById: string | null, via: "portal" | "operator" = "portal") {
  const { token, prefix, tokenHash } = generateToken();
  const expiresAt = input.expiresInDays ? new Date(Date.now() + input.expiresInDays * DAY_MS) : null;
  const row = await prisma.$transaction(async (tx) => {
    const created = await tx.projectApiToken.create({
      data: { projectId: input.projectId, name: input.name, prefix, tokenHash, scopes: input.scopes, createdById, expiresAt },
      select: { id: true, name: true, prefix: true, scopes: true, createdAt: true, expiresAt: true },
    });
    await writeAudit(tx, {
      projectId: input.projectId,
      actorId: createdById,
      action: "token.create",
      targetType: "token",
      targetId: created.id,
      after: { name: created.name, prefix, scopes: created.scopes, expiresAt: expiresAt?.toISOString() ?? null, ...(via === "operator" ? { via: "atrium token create" } : {}) },
    });
    return created;
  });
  return { ...row, token };
}
