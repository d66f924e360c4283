import { router, projectProcedure } from "@/server/trpc/init";
import { auditListInput } from "@/lib/projects";
import { listSiteAudit } from "@/server/site/audit";

export const auditRouter = router({
  /** The project's audit log, newest first, filtered by action, actor and dates, paged by cursor; owners only. */
  list: projectProcedure("owner")
    .input(auditListInput)
    .query(({ ctx, input }) => listSiteAudit(ctx.prisma, { ...input, projectId: ctx.project.id, siteOnly: undefined })),
});
