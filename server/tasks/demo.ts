// What `atrium seed-demo` sets up for tasks in DEMO: the QC template (lib/tasks/demo.ts), one task
// group "Demo QC" over DEMO's experiments (topped up with the experiments archived since, so calling
// it again after the samples arrive adds their tasks), and with `--readers N` the accounts
// reader1@demo.invalid … readerN@demo.invalid as members of DEMO in the group's pool (with the
// owner, when one is named), for trying multi-reader work with the development sign-in.
import type { PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import { DEMO_QC_TEMPLATE, DEMO_QC_TEMPLATE_NAME } from "@/lib/tasks/demo";
import { TaskTemplate } from "@/lib/tasks/template";
import { insertCaseTasks, saveTemplate } from "./ops";

export const DEMO_GROUP_LABEL = "Demo QC";
export const demoReaderEmail = (i: number) => `reader${i}@demo.invalid`;

export async function ensureDemoTasks(prisma: PrismaClient, projectId: string, opts: { readers?: number; ownerEmail?: string } = {}) {
  const readers = Math.max(0, Math.min(50, opts.readers ?? 0));
  let tpl = await prisma.taskTemplate.findUnique({ where: { projectId_name: { projectId, name: DEMO_QC_TEMPLATE_NAME } }, include: { versions: { orderBy: { version: "desc" }, take: 1 } } });
  if (!tpl) {
    await saveTemplate(prisma, projectId, null, DEMO_QC_TEMPLATE_NAME, DEMO_QC_TEMPLATE);
    tpl = await prisma.taskTemplate.findUniqueOrThrow({ where: { projectId_name: { projectId, name: DEMO_QC_TEMPLATE_NAME } }, include: { versions: { orderBy: { version: "desc" }, take: 1 } } });
  }
  const version = tpl.versions[0]!;
  const readerIds: string[] = [];
  for (let i = 1; i <= readers; i++) {
    const email = demoReaderEmail(i);
    const u = await prisma.user.upsert({ where: { email }, create: { email, name: `Demo reader ${i}` }, update: {} });
    await prisma.projectMember.upsert({ where: { projectId_userId: { projectId, userId: u.id } }, create: { projectId, userId: u.id, role: "member" }, update: {} });
    readerIds.push(u.id);
  }
  let group = await prisma.taskGroup.findFirst({ where: { projectId, label: DEMO_GROUP_LABEL }, orderBy: { createdAt: "asc" } });
  if (!group) {
    group = await prisma.taskGroup.create({ data: { projectId, label: DEMO_GROUP_LABEL, templateVersionId: version.id, readersPerCase: readers >= 2 ? 2 : 1, distribution: "pool" } });
    await writeAudit(prisma, { projectId, actorId: null, action: "task.group.create", targetType: "TaskGroup", targetId: group.id, after: { label: DEMO_GROUP_LABEL, by: "atrium seed-demo" } });
  }
  if (readerIds.length) {
    const owner = opts.ownerEmail ? await prisma.user.findUnique({ where: { email: opts.ownerEmail.trim().toLowerCase() }, select: { id: true } }) : null;
    for (const userId of [...readerIds, ...(owner ? [owner.id] : [])]) {
      await prisma.taskPoolMember.upsert({ where: { groupId_userId: { groupId: group.id, userId } }, create: { groupId: group.id, userId, weight: 1 }, update: {} });
    }
  }
  // Top up: the experiments of the project with no task in the group yet.
  const missing = await prisma.archiveExperiment.findMany({ where: { projectId, NOT: { id: { in: (await prisma.task.findMany({ where: { groupId: group.id }, select: { experimentId: true }, distinct: ["experimentId"] })).map((t) => t.experimentId ?? "") } } }, select: { id: true }, orderBy: { createdAt: "asc" } });
  const tv = await prisma.taskTemplateVersion.findUniqueOrThrow({ where: { id: group.templateVersionId } });
  const added = missing.length ? await insertCaseTasks(prisma, { projectId, groupId: group.id, templateVersionId: tv.id, template: TaskTemplate.parse(tv.definition), readersPerCase: group.readersPerCase }, missing.map((e) => e.id)) : 0;
  const total = await prisma.task.count({ where: { groupId: group.id } });
  return { groupId: group.id, tasksAdded: added, tasks: total, readers: readerIds.map((_, i) => demoReaderEmail(i + 1)) };
}
