// The API: one router per domain. Every procedure here must have a row in
// tests/access/matrix.test.ts, or that test fails.
import { router } from "@/server/trpc/init";
import { projectRouter } from "./project";
import { memberRouter } from "./member";
import { auditRouter } from "./audit";
import { meRouter } from "./me";
import { adminRouter } from "./admin";
import { intakeRouter } from "./intake";
import { tokenRouter } from "./token";
import { webhookRouter } from "./webhook";
import { archiveRouter } from "./archive";
import { browseRouter } from "./browse";
import { rulesRouter } from "./rules";
import { uploadRouter } from "./upload";
import { pixelsRouter } from "./pixels";
import { monitoringRouter } from "./monitoring";
import { forwardRouter } from "./forward";
import { tasksRouter } from "./tasks";
import { reportedRunsRouter } from "./reported-runs";
import { governorRouter } from "./governor";
import { pipelineRouter } from "./pipeline";

export const appRouter = router({
  me: meRouter,
  project: projectRouter,
  member: memberRouter,
  audit: auditRouter,
  admin: adminRouter,
  intake: intakeRouter,
  token: tokenRouter,
  webhook: webhookRouter,
  archive: archiveRouter,
  browse: browseRouter,
  rules: rulesRouter,
  upload: uploadRouter,
  pixels: pixelsRouter,
  monitoring: monitoringRouter,
  forward: forwardRouter,
  tasks: tasksRouter,
  reportedRuns: reportedRunsRouter,
  governor: governorRouter,
  pipeline: pipelineRouter,
});

export type AppRouter = typeof appRouter;
