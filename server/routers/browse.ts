// Browsing a project's archive: subjects → experiments → scans, from the local archive's index
// and, for studies that live only on XNAT (or are still being archived), from StudyArchive and
// IntakeStudy. Reading needs collaborator access; the download setting is the owners'.
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { Prisma } from "@/server/db/generated/client";
import { router, projectProcedure } from "@/server/trpc/init";
import { writeAudit } from "@/server/audit";
import { decideDownloadAccess, MAX_SELECTION } from "@/lib/archive/download";
import { experimentLabel } from "@/lib/archive/driver";
import { scanView } from "@/server/archive/scan-view";
import { archivedResults } from "@/server/tasks/archived-results";
import {
  browseExperimentsInput,
  browseScansInput,
  browseSearchInput,
  browseScanViewInput,
  toDicomDate,
  browseSubjectsInput,
  containsPattern,
  pageOf,
  setCollaboratorDownloadInput,
  studyLocation,
  thumbnailUrl,
  type ArchiveStatus,
} from "@/lib/archive/browse";

/** Studies with an archive row but no local index entry: on XNAT, or not yet in the local archive. */
const notIndexed = (projectIdParam: Prisma.Sql) => Prisma.sql`
  NOT EXISTS (SELECT 1 FROM "ArchiveExperiment" e2 WHERE e2."projectId" = ${projectIdParam}
              AND (e2."intakeStudyId" = st.id OR e2."studyInstanceUid" = st."studyInstanceUid"))`;

export const browseRouter = router({
  /** Totals, the archive target, and whether the caller may download (and why not). */
  overview: projectProcedure("collaborator").query(async ({ ctx }) => {
    const projectId = ctx.project.id;
    const [project, target, subjects, experiments, scans, agg, remote] = await Promise.all([
      ctx.prisma.project.findUniqueOrThrow({ where: { id: projectId }, select: { allowCollaboratorDownload: true } }),
      ctx.prisma.projectArchiveTarget.findUnique({ where: { projectId }, select: { kind: true, xnatUrl: true, xnatProject: true } }),
      ctx.prisma.archiveSubject.count({ where: { projectId } }),
      ctx.prisma.archiveExperiment.count({ where: { projectId } }),
      ctx.prisma.archiveScan.count({ where: { experiment: { projectId } } }),
      ctx.prisma.archiveExperiment.aggregate({ where: { projectId }, _sum: { instanceCount: true, sizeBytes: true } }),
      ctx.prisma.$queryRaw<{ n: number; subjects: number }[]>`
        SELECT COUNT(*)::int AS n,
               COUNT(DISTINCT st."subjectLabel") FILTER (WHERE NOT EXISTS (
                 SELECT 1 FROM "ArchiveSubject" s2 WHERE s2."projectId" = ${projectId} AND s2.label = st."subjectLabel"))::int AS subjects
        FROM "IntakeStudy" st JOIN "StudyArchive" a ON a."studyId" = st.id
        WHERE st."projectId" = ${projectId} AND ${notIndexed(Prisma.sql`${projectId}`)}`,
    ]);
    const download = decideDownloadAccess({ projectId, level: ctx.project.level, viaToken: false, allowCollaboratorDownload: project.allowCollaboratorDownload });
    return {
      target: { kind: target?.kind ?? "local", xnatUrl: target?.xnatUrl ?? null, xnatProject: target?.xnatProject ?? null },
      local: { subjects, experiments, scans, instances: agg._sum.instanceCount ?? 0, bytes: Number(agg._sum.sizeBytes ?? 0) },
      /** Experiments with an archive row but not in the local archive (on XNAT, or being archived), and subjects that have only those. */
      notLocal: remote[0]?.n ?? 0,
      notLocalSubjects: remote[0]?.subjects ?? 0,
      allowCollaboratorDownload: project.allowCollaboratorDownload,
      canDownload: download.ok,
      downloadRefusal: download.ok ? null : download.message,
      isOwner: ctx.project.level === "owner",
    };
  }),

  /** Subjects (by label) with their experiment counts, local and elsewhere; filtered by label, paged. */
  subjects: projectProcedure("collaborator")
    .input(browseSubjectsInput)
    .query(async ({ ctx, input }) => {
      const projectId = ctx.project.id;
      const filter = input.search ? Prisma.sql`AND label ILIKE ${containsPattern(input.search)}` : Prisma.empty;
      const rows = await ctx.prisma.$queryRaw<
        { label: string; localExperiments: number; otherExperiments: number; instances: number; bytes: bigint; latestStudyDate: string | null; total: number }[]
      >`
        WITH loc AS (
          SELECT sub.label, COUNT(e.id)::int AS n, COALESCE(SUM(e."instanceCount"), 0)::int AS instances,
                 COALESCE(SUM(e."sizeBytes"), 0)::bigint AS bytes, MAX(e."studyDate") AS latest
          FROM "ArchiveSubject" sub LEFT JOIN "ArchiveExperiment" e ON e."subjectId" = sub.id
          WHERE sub."projectId" = ${projectId} GROUP BY sub.label
        ), rem AS (
          SELECT st."subjectLabel" AS label, COUNT(*)::int AS n
          FROM "IntakeStudy" st JOIN "StudyArchive" a ON a."studyId" = st.id
          WHERE st."projectId" = ${projectId} AND ${notIndexed(Prisma.sql`${projectId}`)}
          GROUP BY st."subjectLabel"
        ), s AS (
          SELECT COALESCE(loc.label, rem.label) AS label, COALESCE(loc.n, 0) AS "localExperiments",
                 COALESCE(rem.n, 0) AS "otherExperiments", COALESCE(loc.instances, 0) AS instances,
                 COALESCE(loc.bytes, 0)::bigint AS bytes, loc.latest AS "latestStudyDate"
          FROM loc FULL OUTER JOIN rem ON loc.label = rem.label
        )
        SELECT *, (COUNT(*) OVER ())::int AS total FROM s WHERE true ${filter}
        ORDER BY label LIMIT ${input.pageSize} OFFSET ${(input.page - 1) * input.pageSize}`;
      // A page past the end has no rows and so no total: the UI goes back to page 1.
      const total = rows[0]?.total ?? 0;
      return {
        items: rows.map(({ total: _t, bytes, ...r }) => ({ ...r, experiments: r.localExperiments + r.otherExperiments, bytes: Number(bytes) })),
        total,
        page: input.page,
        pageSize: input.pageSize,
      };
    }),

  /** A subject's experiments: study date (shifted), description, modalities, counts, size, archive state and where it lives. */
  experiments: projectProcedure("collaborator")
    .input(browseExperimentsInput)
    .query(async ({ ctx, input }) => {
      const projectId = ctx.project.id;
      const [local, pending, target] = await Promise.all([
        ctx.prisma.archiveExperiment.findMany({
          where: { projectId, subject: { label: input.subject } },
          select: {
            id: true,
            label: true,
            studyDate: true,
            studyTime: true,
            studyDescription: true,
            modalities: true,
            instanceCount: true,
            sizeBytes: true,
            intakeStudyId: true,
            studyInstanceUid: true,
            _count: { select: { scans: true } },
          },
          take: 5000,
        }),
        ctx.prisma.intakeStudy.findMany({
          where: { projectId, subjectLabel: input.subject, archive: { isNot: null } },
          select: { id: true, studyInstanceUid: true, instanceCount: true, archive: { select: { state: true, targetKind: true, location: true, lastError: true, totalBytes: true } } },
          take: 5000,
        }),
        ctx.prisma.projectArchiveTarget.findUnique({ where: { projectId }, select: { xnatUrl: true, xnatProject: true } }),
      ]);
      const xnat = { url: target?.xnatUrl ?? null, project: target?.xnatProject ?? null };
      const byStudy = new Map(pending.map((p) => [p.id, p]));
      const indexedUids = new Set(local.map((e) => e.studyInstanceUid));
      const indexedStudyIds = new Set(local.map((e) => e.intakeStudyId).filter((x): x is string => Boolean(x)));
      const rows = [
        ...local.map((e) => {
          const a = e.intakeStudyId ? byStudy.get(e.intakeStudyId)?.archive ?? null : null;
          return {
            id: e.id as string | null,
            label: e.label,
            studyDate: e.studyDate,
            studyTime: e.studyTime,
            description: e.studyDescription,
            modalities: e.modalities,
            scans: e._count.scans as number | null,
            instances: e.instanceCount,
            bytes: Number(e.sizeBytes),
            status: (a?.state ?? "archived") as ArchiveStatus,
            lastError: a?.state === "failed" ? a.lastError : null,
            location: studyLocation(true, a, xnat),
            downloadable: true,
          };
        }),
        ...pending
          .filter((p) => !indexedStudyIds.has(p.id) && !indexedUids.has(p.studyInstanceUid))
          .map((p) => ({
            id: null,
            label: experimentLabel(input.subject, p.studyInstanceUid),
            studyDate: null,
            studyTime: null,
            description: null,
            modalities: [] as string[],
            scans: null,
            instances: p.instanceCount,
            bytes: Number(p.archive!.totalBytes),
            status: p.archive!.state as ArchiveStatus,
            lastError: p.archive!.state === "failed" ? p.archive!.lastError : null,
            location: studyLocation(false, p.archive, xnat),
            downloadable: false,
          })),
      ];
      const q = input.search?.toLowerCase();
      const filtered = q ? rows.filter((r) => r.label.toLowerCase().includes(q) || (r.description ?? "").toLowerCase().includes(q)) : rows;
      filtered.sort((a, b) => (b.studyDate ?? "").localeCompare(a.studyDate ?? "") || a.label.localeCompare(b.label));
      return pageOf(filtered, input.page, input.pageSize);
    }),

  /** An experiment's scans (local archive): series number, modality, description, counts, size, thumbnail. */
  scans: projectProcedure("collaborator")
    .input(browseScansInput)
    .query(async ({ ctx, input }) => {
      const projectId = ctx.project.id;
      const exp = await ctx.prisma.archiveExperiment.findFirst({
        where: { id: input.experimentId, projectId },
        select: { id: true, label: true, studyInstanceUid: true, subject: { select: { label: true } } },
      });
      if (!exp) {
        throw new TRPCError({ code: "NOT_FOUND", message: `Project "${projectId}" has no such experiment in its local archive. Reload the list: it may have been removed.` });
      }
      const where: Prisma.ArchiveScanWhereInput = {
        experimentId: exp.id,
        ...(input.search
          ? { OR: [{ seriesDescription: { contains: input.search, mode: "insensitive" } }, { modality: { contains: input.search, mode: "insensitive" } }] }
          : {}),
      };
      const [total, scans] = await Promise.all([
        ctx.prisma.archiveScan.count({ where }),
        ctx.prisma.archiveScan.findMany({
          where,
          orderBy: [{ seriesNumber: { sort: "asc", nulls: "last" } }, { seriesInstanceUid: "asc" }],
          skip: (input.page - 1) * input.pageSize,
          take: input.pageSize,
          select: { id: true, seriesInstanceUid: true, seriesNumber: true, modality: true, seriesDescription: true, instanceCount: true, sizeBytes: true },
        }),
      ]);
      return {
        experiment: { id: exp.id, label: exp.label, subject: exp.subject.label, studyInstanceUid: exp.studyInstanceUid },
        items: scans.map((s) => ({
          id: s.id,
          seriesInstanceUid: s.seriesInstanceUid,
          seriesNumber: s.seriesNumber,
          modality: s.modality,
          description: s.seriesDescription,
          instances: s.instanceCount,
          bytes: Number(s.sizeBytes),
          thumbnailUrl: thumbnailUrl(projectId, exp.studyInstanceUid, s.seriesInstanceUid),
        })),
        total,
        page: input.page,
        pageSize: input.pageSize,
      };
    }),

  /**
   * Experiments of the local archive across subjects matching a modality, words of the study or a
   * series description, and a study date range; one page of them (newest first) and the ids of
   * every match (at most MAX_SELECTION), for "select all results".
   */
  search: projectProcedure("collaborator")
    .input(browseSearchInput)
    .query(async ({ ctx, input }) => {
      const projectId = ctx.project.id;
      const where: Prisma.ArchiveExperimentWhereInput = {
        projectId,
        AND: [
          ...(input.modality ? [{ OR: [{ modalities: { has: input.modality } }, { scans: { some: { modality: input.modality } } }] }] : []),
          ...(input.text
            ? [{ OR: [{ studyDescription: { contains: input.text, mode: "insensitive" as const } }, { scans: { some: { seriesDescription: { contains: input.text, mode: "insensitive" as const } } } }] }]
            : []),
          ...(input.from ? [{ studyDate: { gte: toDicomDate(input.from) } }] : []),
          ...(input.to ? [{ studyDate: { lte: toDicomDate(input.to) } }] : []),
        ],
      };
      const [total, rows, all] = await Promise.all([
        ctx.prisma.archiveExperiment.count({ where }),
        ctx.prisma.archiveExperiment.findMany({
          where,
          orderBy: [{ studyDate: { sort: "desc", nulls: "last" } }, { label: "asc" }],
          skip: (input.page - 1) * input.pageSize,
          take: input.pageSize,
          select: {
            id: true, label: true, studyDate: true, studyDescription: true, modalities: true, instanceCount: true, sizeBytes: true,
            subject: { select: { label: true } }, _count: { select: { scans: true } },
          },
        }),
        ctx.prisma.archiveExperiment.findMany({ where, select: { id: true, sizeBytes: true }, take: MAX_SELECTION }),
      ]);
      return {
        items: rows.map((e) => ({
          id: e.id,
          label: e.label,
          subject: e.subject.label,
          studyDate: e.studyDate,
          description: e.studyDescription,
          modalities: e.modalities,
          scans: e._count.scans,
          instances: e.instanceCount,
          bytes: Number(e.sizeBytes),
        })),
        total,
        page: input.page,
        pageSize: input.pageSize,
        /** Every match (at most MAX_SELECTION) with its size, for "select all results". */
        all: all.map((e) => ({ id: e.id, bytes: Number(e.sizeBytes) })),
      };
    }),

  /**
   * The larger view of a scan: its instances in order (the portal scrolls the DICOMweb rendered
   * frames) and the stored, de-identified header of one. Reads the stored files, so it follows
   * the download rule, like the viewer.
   */
  scanView: projectProcedure("collaborator")
    .input(browseScanViewInput)
    .query(async ({ ctx, input }) => {
      const project = await ctx.prisma.project.findUniqueOrThrow({ where: { id: ctx.project.id }, select: { allowCollaboratorDownload: true } });
      const download = decideDownloadAccess({ projectId: ctx.project.id, level: ctx.project.level, viaToken: false, allowCollaboratorDownload: project.allowCollaboratorDownload });
      if (!download.ok) throw new TRPCError({ code: "FORBIDDEN", message: download.message });
      return scanView(ctx.prisma, ctx.project.id, input.scanId, input.index);
    }),

  /**
   * The experiment's DICOM SR measurements and SEG segmentations (task results, or any TID 1500
   * SR / binary SEG) read back for the viewer. Reads the stored files: the download rule applies.
   */
  archivedResults: projectProcedure("collaborator")
    .input(z.object({ experimentId: z.string().min(1).max(64) }))
    .query(async ({ ctx, input }) => {
      const project = await ctx.prisma.project.findUniqueOrThrow({ where: { id: ctx.project.id }, select: { allowCollaboratorDownload: true } });
      const download = decideDownloadAccess({ projectId: ctx.project.id, level: ctx.project.level, viaToken: false, allowCollaboratorDownload: project.allowCollaboratorDownload });
      if (!download.ok) throw new TRPCError({ code: "FORBIDDEN", message: download.message });
      return archivedResults(ctx.prisma, ctx.project.id, input.experimentId);
    }),

  /** Owners: whether collaborators may download the project's files (audited). */
  setCollaboratorDownload: projectProcedure("owner")
    .input(setCollaboratorDownloadInput)
    .mutation(async ({ ctx, input }) => {
      return ctx.prisma.$transaction(async (tx) => {
        const p = await tx.project.findUniqueOrThrow({ where: { id: ctx.project.id }, select: { allowCollaboratorDownload: true } });
        if (p.allowCollaboratorDownload === input.allowed) return { allowCollaboratorDownload: input.allowed, changed: false };
        await tx.project.update({ where: { id: ctx.project.id }, data: { allowCollaboratorDownload: input.allowed } });
        await writeAudit(tx, {
          projectId: ctx.project.id,
          actorId: ctx.user.id,
          action: "project.collaboratorDownload",
          targetType: "project",
          targetId: ctx.project.id,
          before: { allowCollaboratorDownload: p.allowCollaboratorDownload },
          after: { allowCollaboratorDownload: input.allowed },
        });
        return { allowCollaboratorDownload: input.allowed, changed: true };
      });
    }),
});
