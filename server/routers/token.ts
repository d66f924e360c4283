// Per-project API tokens: owners list, create (the plaintext is returned once, never stored) and
// revoke them. Every change is audited, without the token itself.
import { TRPCError } from "@trpc/server";
import { router, projectProcedure } from "@/server/trpc/init";
import { writeAudit } from "@/server/audit";
import { createTokenInput, revokeTokenInput } from "@/lib/tokens";
import { createProjectToken } from "@/server/tokens/create";

export const tokenRouter = router({
  /** The project's tokens (revoked ones too, marked), newest first; never a token or its hash. */
  list: projectProcedure("owner").query(async ({ ctx }) => {
    const rows = await ctx.prisma.projectApiToken.findMany({
      where: { projectId: ctx.project.id },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      select: {
        id: true,
        name: true,
        prefix: true,
        scopes: true,
        createdAt: true,
        lastUsedAt: true,
        revokedAt: true,
        expiresAt: true,
        createdBy: { select: { name: true, email: true } },
      },
    });
    return rows.map(({ createdBy, ...t }) => ({ ...t, createdBy: createdBy?.name ?? createdBy?.email ?? null }));
  }),

  /** Creates a token and returns it in clear this once; only its SHA-256 is kept. */
  create: projectProcedure("owner")
    .input(createTokenInput)
    .mutation(({ ctx, input }) => createProjectToken(ctx.prisma, input, ctx.user.id)),

  /** Revokes a token: from now on it is refused (401). Revoking twice is an error that says so. */
  revoke: projectProcedure("owner")
    .input(revokeTokenInput)
    .mutation(async ({ ctx, input }) => {
      return ctx.prisma.$transaction(async (tx) => {
        const t = await tx.projectApiToken.findFirst({ where: { id: input.tokenId, projectId: input.projectId } });
        if (!t) throw new TRPCError({ code: "NOT_FOUND", message: "This project has no such API token. Reload the token list." });
        if (t.revokedAt) throw new TRPCError({ code: "CONFLICT", message: `The token "${t.name}" was already revoked on ${t.revokedAt.toISOString()}.` });
        const revokedAt = new Date();
        await tx.projectApiToken.update({ where: { id: t.id }, data: { revokedAt } });
        await writeAudit(tx, {
          projectId: input.projectId,
          actorId: ctx.user.id,
          action: "token.revoke",
          targetType: "token",
          targetId: t.id,
          before: { name: t.name, prefix: t.prefix, scopes: t.scopes },
          after: { revokedAt: revokedAt.toISOString() },
        });
        return { revokedAt };
      });
    }),
});
