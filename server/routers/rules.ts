// Routing rules of a project (lib/intake/rules): members read them; owners add, edit, enable,
// reorder and delete them (audited) and test an expression against a sample file they choose.
// The sample is read in memory for its header only: never stored, never logged.
import { TRPCError } from "@trpc/server";
import { router, projectProcedure } from "@/server/trpc/init";
import { writeAudit } from "@/server/audit";
import { clearRuleCache } from "@/server/intake/routing";
import { projectSiteRouting } from "@/server/site/routing";
import { compileRule, createRuleInput, FIRST_RULE_MESSAGE, reorderRulesInput, ruleRefInput, RuleSyntaxError, testRuleInput, updateRuleInput, MAX_SAMPLE_BYTES } from "@/lib/intake/rules";
import { NotReadableError, readRuleHeader } from "@/lib/intake/rules/header";
import { fieldChanges } from "@/lib/changes";
import type { PrismaClient } from "@/server/db/generated/client";

async function ruleOf(prisma: PrismaClient, projectId: string, ruleId: string) {
  const rule = await prisma.routingRule.findFirst({ where: { id: ruleId, projectId } });
  if (!rule) throw new TRPCError({ code: "NOT_FOUND", message: "This project has no such routing rule. Reload the rules." });
  return rule;
}

/** Refuses to make the first enabled rule of a project unless the caller acknowledged what it changes. */
async function requireFirstRuleAcknowledged(prisma: PrismaClient, projectId: string, acknowledged: boolean | undefined) {
  if (acknowledged) return;
  if ((await prisma.routingRule.count({ where: { projectId, enabled: true } })) === 0) {
    throw new TRPCError({ code: "PRECONDITION_FAILED", message: FIRST_RULE_MESSAGE });
  }
}

const audited = (r: { expression: string; description: string; enabled: boolean; position: number }) => ({
  expression: r.expression,
  description: r.description,
  enabled: r.enabled,
  position: r.position,
});

export const rulesRouter = router({
  list: projectProcedure("member").query(async ({ ctx }) => {
    const rules = await ctx.prisma.routingRule.findMany({
      where: { projectId: ctx.project.id },
      orderBy: [{ position: "asc" }, { createdAt: "asc" }],
      include: { createdBy: { select: { name: true, email: true } } },
    });
    return rules.map((r) => ({
      id: r.id,
      position: r.position,
      expression: r.expression,
      description: r.description,
      enabled: r.enabled,
      createdAt: r.createdAt,
      createdBy: r.createdBy?.name ?? r.createdBy?.email ?? null,
    }));
  }),

  /** Whether site admins enabled this project for routing the site AE title (and its place in the order). */
  siteRouting: projectProcedure("member").query(({ ctx }) => projectSiteRouting(ctx.prisma, ctx.project.id)),

  create: projectProcedure("owner")
    .input(createRuleInput)
    .mutation(async ({ ctx, input }) => {
      const { projectId, acceptOnlyMatching, ...data } = input;
      const rule = await ctx.prisma.$transaction(async (tx) => {
        if (data.enabled) await requireFirstRuleAcknowledged(tx as PrismaClient, projectId, acceptOnlyMatching);
        const last = await tx.routingRule.aggregate({ where: { projectId }, _max: { position: true } });
        const created = await tx.routingRule.create({ data: { projectId, ...data, position: (last._max.position ?? -1) + 1, createdById: ctx.user.id } });
        await writeAudit(tx, { projectId, actorId: ctx.user.id, action: "intake.rule.create", targetType: "routingRule", targetId: created.id, after: audited(created) });
        return created;
      });
      clearRuleCache();
      return { id: rule.id, position: rule.position };
    }),

  update: projectProcedure("owner")
    .input(updateRuleInput)
    .mutation(async ({ ctx, input }) => {
      const { projectId, ruleId, acceptOnlyMatching, ...changes } = input;
      const result = await ctx.prisma.$transaction(async (tx) => {
        const rule = await ruleOf(tx as PrismaClient, projectId, ruleId);
        if (changes.enabled && !rule.enabled) await requireFirstRuleAcknowledged(tx as PrismaClient, projectId, acceptOnlyMatching);
        const diff = fieldChanges(rule, changes);
        if (!diff.fields.length) return { changed: [] as string[] };
        await tx.routingRule.update({ where: { id: rule.id }, data: diff.after });
        await writeAudit(tx, {
          projectId,
          actorId: ctx.user.id,
          action: "intake.rule.update",
          targetType: "routingRule",
          targetId: rule.id,
          before: diff.before as Record<string, string | boolean>,
          after: diff.after as Record<string, string | boolean>,
        });
        return { changed: diff.fields };
      });
      clearRuleCache();
      return result;
    }),

  reorder: projectProcedure("owner")
    .input(reorderRulesInput)
    .mutation(async ({ ctx, input }) => {
      await ctx.prisma.$transaction(async (tx) => {
        const rules = await tx.routingRule.findMany({ where: { projectId: input.projectId }, orderBy: [{ position: "asc" }, { createdAt: "asc" }], select: { id: true } });
        const current = rules.map((r) => r.id);
        if (current.length !== input.ruleIds.length || new Set(input.ruleIds).size !== input.ruleIds.length || !input.ruleIds.every((id) => current.includes(id))) {
          throw new TRPCError({ code: "CONFLICT", message: "The rules changed meanwhile: the new order must name every rule of the project once. Reload the rules and try again." });
        }
        for (const [position, id] of input.ruleIds.entries()) await tx.routingRule.update({ where: { id }, data: { position } });
        await writeAudit(tx, { projectId: input.projectId, actorId: ctx.user.id, action: "intake.rule.reorder", targetType: "project", targetId: input.projectId, before: current, after: input.ruleIds });
      });
      clearRuleCache();
      return { reordered: true };
    }),

  remove: projectProcedure("owner")
    .input(ruleRefInput)
    .mutation(async ({ ctx, input }) => {
      await ctx.prisma.$transaction(async (tx) => {
        const rule = await ruleOf(tx as PrismaClient, input.projectId, input.ruleId);
        await tx.routingRule.delete({ where: { id: rule.id } });
        await writeAudit(tx, { projectId: input.projectId, actorId: ctx.user.id, action: "intake.rule.delete", targetType: "routingRule", targetId: rule.id, before: audited(rule) });
      });
      clearRuleCache();
      return { removed: true };
    }),

  /**
   * Tests an expression against a sample file: match or not, the parse error, and the values the
   * expression used. The owner chose the file; it is read in memory and forgotten.
   */
  test: projectProcedure("owner")
    .input(testRuleInput)
    .mutation(async ({ input }) => {
      const bytes = Buffer.from(input.sampleBase64, "base64");
      if (bytes.length > MAX_SAMPLE_BYTES) {
        throw new TRPCError({ code: "PAYLOAD_TOO_LARGE", message: `The sample is larger than ${MAX_SAMPLE_BYTES / 1024 / 1024} MB; choose a smaller file of the same kind.` });
      }
      let rule;
      try {
        rule = compileRule(input.expression);
      } catch (e) {
        if (e instanceof RuleSyntaxError) return { ok: false as const, error: { message: e.message, column: e.column, expected: e.expected } };
        throw e;
      }
      let header;
      try {
        header = readRuleHeader(bytes);
      } catch (e) {
        if (e instanceof NotReadableError) return { ok: false as const, error: { message: `${e.message} Choose a DICOM file.`, column: null, expected: null } };
        throw e;
      }
      return { ok: true as const, ...rule.explain(header) };
    }),
});
