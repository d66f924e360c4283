// A project's archive: its target (the built-in local archive, or an XNAT whose password or token
// is sealed and never returned), the connection test, the per-study archive status, and retry.
// Changes are audited without secrets.
import { TRPCError } from "@trpc/server";
import { router, projectProcedure } from "@/server/trpc/init";
import { writeAudit } from "@/server/audit";
import { openSecret, sealSecret } from "@/server/secrets";
import { archiveStatusInput, retryArchiveInput, retryArchivesInput, setArchiveTargetInput, testArchiveConnectionInput } from "@/lib/archive/schema";
import { credentialsFor, testXnatConnection, type ConnectionReport } from "@/lib/archive/xnat-driver";
import { ARCHIVE_STATES } from "@/lib/archive/state";
import { retryArchiveIn } from "@/server/archive/run";
import { queueArchiveJob } from "@/server/archive/queue";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { cutPage } from "@/lib/portal/paging";
import { retryArchives } from "@/server/archive/bulk";

const ARCHIVE_ORDER: Record<"newest" | "oldest" | "updated", Prisma.StudyArchiveOrderByWithRelationInput[]> = {
  newest: [{ queuedAt: "desc" }, { studyId: "desc" }],
  oldest: [{ queuedAt: "asc" }, { studyId: "asc" }],
  updated: [{ updatedAt: "desc" }, { studyId: "desc" }],
};

async function storedTarget(prisma: PrismaClient, projectId: string) {
  return prisma.projectArchiveTarget.findUnique({ where: { projectId } });
}

/** The stored secret, only for the URL and user it was entered for (never sent elsewhere). */
function storedSecretFor(t: Awaited<ReturnType<typeof storedTarget>>, url: string, user: string): string | null {
  if (!t || t.kind !== "xnat" || !t.xnatSecretSealed || t.xnatUrl !== url || t.xnatUser !== user) return null;
  try {
    return openSecret(t.xnatSecretSealed, { table: "ProjectArchiveTarget", id: t.projectId, field: "xnatSecretSealed" });
  } catch {
    return null;
  }
}

export const archiveRouter = router({
  /** The target, without secrets: kind, URL, project and user on that XNAT, and whether a password is stored. */
  target: projectProcedure("collaborator").query(async ({ ctx }) => {
    const t = await storedTarget(ctx.prisma, ctx.project.id);
    if (!t || t.kind === "local") return { kind: "local" as const, xnatUrl: null, xnatProject: null, xnatUser: null, hasSecret: false, updatedAt: t?.updatedAt ?? null };
    return { kind: "xnat" as const, xnatUrl: t.xnatUrl, xnatProject: t.xnatProject, xnatUser: t.xnatUser, hasSecret: Boolean(t.xnatSecretSealed), updatedAt: t.updatedAt };
  }),

  setTarget: projectProcedure("owner")
    .input(setArchiveTargetInput)
    .mutation(async ({ ctx, input }) => {
      const projectId = ctx.project.id;
      const before = await storedTarget(ctx.prisma, projectId);
      const beforeAudit = before ? { kind: before.kind, xnatUrl: before.xnatUrl, xnatProject: before.xnatProject, xnatUser: before.xnatUser } : { kind: "local" };
      if (input.kind === "local") {
        await ctx.prisma.$transaction(async (tx) => {
          await tx.projectArchiveTarget.upsert({
            where: { projectId },
            create: { projectId, kind: "local" },
            update: { kind: "local", xnatUrl: null, xnatProject: null, xnatUser: null, xnatSecretSealed: null },
          });
          await writeAudit(tx, { projectId, actorId: ctx.user.id, action: "archive.target", targetType: "archive", targetId: projectId, before: beforeAudit, after: { kind: "local" } });
        });
        return { kind: "local" as const };
      }
      let sealed: string;
      if (input.xnatSecret) sealed = sealSecret(input.xnatSecret, { table: "ProjectArchiveTarget", id: projectId, field: "xnatSecretSealed" });
      else if (before?.kind === "xnat" && before.xnatSecretSealed && before.xnatUrl === input.xnatUrl && before.xnatUser === input.xnatUser) sealed = before.xnatSecretSealed;
      else throw new TRPCError({ code: "BAD_REQUEST", message: "Enter the password (or the alias token's secret) for this XNAT user: a stored one is kept only for the same URL and user." });
      const fields = { kind: "xnat" as const, xnatUrl: input.xnatUrl, xnatProject: input.xnatProject, xnatUser: input.xnatUser, xnatSecretSealed: sealed };
      await ctx.prisma.$transaction(async (tx) => {
        await tx.projectArchiveTarget.upsert({ where: { projectId }, create: { projectId, ...fields }, update: fields });
        await writeAudit(tx, {
          projectId,
          actorId: ctx.user.id,
          action: "archive.target",
          targetType: "archive",
          targetId: projectId,
          before: beforeAudit,
          after: { kind: "xnat", xnatUrl: input.xnatUrl, xnatProject: input.xnatProject, xnatUser: input.xnatUser, secretChanged: Boolean(input.xnatSecret) },
        });
      });
      return { kind: "xnat" as const };
    }),

  /** Connects to the XNAT (the saved target, or the form's values): its version and this account's rights on the project there. */
  testConnection: projectProcedure("owner")
    .input(testArchiveConnectionInput)
    .mutation(async ({ ctx, input }): Promise<ConnectionReport> => {
      const saved = await storedTarget(ctx.prisma, ctx.project.id);
      const form = input.xnat;
      if (!form && saved?.kind !== "xnat") return { ok: true, message: "This project archives into Atrium's built-in local archive: nothing to connect to." };
      const url = form?.xnatUrl ?? saved!.xnatUrl;
      const project = form?.xnatProject ?? saved!.xnatProject;
      const user = form?.xnatUser ?? saved!.xnatUser;
      if (!url || !project || !user) return { ok: false, message: "The XNAT target is incomplete: enter its URL, project and user." };
      const secret = form?.xnatSecret ?? storedSecretFor(saved, url, user);
      if (!secret) return { ok: false, message: "Enter the password (or alias token secret) to test: the stored one is used only for the saved URL and user." };
      return testXnatConnection({ url, project, credentials: credentialsFor(user, secret) });
    }),

  /**
   * Counts per state, and one page of studies (cursor paging on the server; `total` counts every
   * study matching the state filter), each with what it is: subject, date, description, modalities.
   */
  status: projectProcedure("collaborator")
    .input(archiveStatusInput)
    .query(async ({ ctx, input }) => {
      const projectId = ctx.project.id;
      const where = { projectId, ...(input.state ? { state: input.state } : {}) };
      const [groups, rows, total, waiting, target] = await Promise.all([
        ctx.prisma.studyArchive.groupBy({ by: ["state"], where: { projectId }, _count: { _all: true } }),
        ctx.prisma.studyArchive.findMany({
          where,
          orderBy: ARCHIVE_ORDER[input.sort],
          take: input.limit + 1,
          ...(input.cursor ? { cursor: { studyId: input.cursor }, skip: 1 } : {}),
          include: { study: { select: { subjectLabel: true, instanceCount: true, status: true } } },
        }),
        ctx.prisma.studyArchive.count({ where }),
        ctx.prisma.intakeStudy.groupBy({ by: ["status"], where: { projectId, status: { in: ["receiving", "stable"] } }, _count: { _all: true } }),
        storedTarget(ctx.prisma, projectId),
      ]);
      const page = cutPage(rows.map((r) => ({ ...r, id: r.studyId })), input.limit);
      const experiments = await ctx.prisma.archiveExperiment.findMany({
        where: { projectId, intakeStudyId: { in: page.items.map((r) => r.studyId) } },
        select: { intakeStudyId: true, label: true, studyDate: true, studyDescription: true, modalities: true, subject: { select: { label: true } } },
      });
      const experimentOf = new Map(experiments.map((e) => [e.intakeStudyId, e]));
      const counts = Object.fromEntries(ARCHIVE_STATES.map((s) => [s, 0])) as Record<(typeof ARCHIVE_STATES)[number], number>;
      for (const g of groups) counts[g.state] = g._count._all;
      const intake = { receiving: 0, stable: 0 };
      for (const w of waiting) if (w.status === "receiving" || w.status === "stable") intake[w.status] = w._count._all;
      return {
        target: target?.kind === "xnat" ? { kind: "xnat" as const, url: target.xnatUrl, project: target.xnatProject } : { kind: "local" as const, url: null, project: null },
        counts,
        intake,
        total,
        nextCursor: page.nextCursor,
        /** When this page was read: "select every failed study" acts on those queued until then. */
        asOf: new Date(),
        studies: page.items.map((r) => {
          const e = experimentOf.get(r.studyId);
          return {
            studyId: r.studyId,
            subjectLabel: r.study.subjectLabel,
            /** The experiment in the local archive (its label, date, description, modalities), once archived there. */
            experiment: e ? { label: e.label, subjectLabel: e.subject.label, studyDate: e.studyDate, description: e.studyDescription, modalities: e.modalities } : null,
            instances: r.study.instanceCount,
            /** true when new instances arrived after this archive: it will be archived again. */
            receivingAgain: r.study.status === "receiving" || r.study.status === "stable",
            state: r.state,
            targetKind: r.targetKind,
            attempts: r.attempts,
            lastError: r.lastError,
            nextAttemptAt: r.nextAttemptAt,
            doneBytes: Number(r.doneBytes),
            totalBytes: Number(r.totalBytes),
            location: r.location,
            archivedInstances: r.archivedInstances,
            /** Verified, and worth knowing: e.g. XNAT re-encoded or decompressed the files (sizes differ; checked by SOP Instance UID). */
            verificationNote: r.verificationNote,
            queuedAt: r.queuedAt,
            startedAt: r.startedAt,
            archivedAt: r.archivedAt,
            updatedAt: r.updatedAt,
          };
        }),
      };
    }),

  /**
   * Queues the next chunk of a selection of failed archives again (studies picked across pages, or
   * every failed study as of when the list was loaded); answers how many were queued and how many
   * remain, and the portal calls it again until none remain.
   */
  retryMany: projectProcedure("owner")
    .input(retryArchivesInput)
    .mutation(({ ctx, input }) => retryArchives(ctx.prisma, ctx.project.id, input.selection, ctx.user.id)),

  /** Queues a failed study again now (a new round of attempts). */
  retry: projectProcedure("owner")
    .input(retryArchiveInput)
    .mutation(async ({ ctx, input }) => {
      const row = await ctx.prisma.$transaction(async (tx) => {
        const r = await retryArchiveIn(tx, ctx.project.id, input.studyId);
        if (r) await writeAudit(tx, { projectId: ctx.project.id, actorId: ctx.user.id, action: "archive.retry", targetType: "study", targetId: input.studyId, before: { state: "failed" }, after: { state: "queued" } });
        return r;
      });
      if (!row) throw new TRPCError({ code: "NOT_FOUND", message: "This project has no failed archive for that study (it may be queued or archived already). Reload the list." });
      // If Redis is unavailable the row stays queued and the periodic sweep queues it.
      await queueArchiveJob(row.studyId, row.queuedAt, 1).catch(() => undefined);
      return { state: row.state };
    }),
});
