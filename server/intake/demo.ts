// The demo project a newcomer gets from `atrium seed-demo`: project DEMO (public, so every signed-in
// user sees it), reachable by C-STORE at called AE title DEMO from any caller.
import type { PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import { dicomPort, publicDicomHost } from "@/lib/config";

export const DEMO_PROJECT_ID = "DEMO";
export const DEMO_AE_TITLE = "DEMO";
/** Short, so the demo's studies become stable (and move on) soon after the samples arrive. */
const DEMO_STABLE_AFTER_SECONDS = 15;

export async function ensureDemoProject(prisma: PrismaClient, ownerEmail?: string) {
  return prisma.$transaction(async (tx) => {
    let created = false;
    if (!(await tx.project.findUnique({ where: { id: DEMO_PROJECT_ID } }))) {
      await tx.project.create({
        data: {
          id: DEMO_PROJECT_ID,
          idLower: DEMO_PROJECT_ID.toLowerCase(),
          name: "Demo",
          description: `Public sample data sent by \`atrium seed-demo\`. Send more with: storescu -aec DEMO ${publicDicomHost()} ${dicomPort()} FILES (the Intake tab shows the address to use).`,
          accessibility: "public",
          intake: { create: { stableAfterSeconds: DEMO_STABLE_AFTER_SECONDS } },
        },
      });
      await writeAudit(tx, { projectId: DEMO_PROJECT_ID, actorId: null, action: "project.create", targetType: "project", targetId: DEMO_PROJECT_ID, after: { by: "atrium seed-demo" } });
      created = true;
    }
    const route = await tx.aeRoute.findUnique({ where: { aeTitle: DEMO_AE_TITLE } });
    if (route && route.projectId !== DEMO_PROJECT_ID) {
      throw new Error(`The AE title ${DEMO_AE_TITLE} already routes to project ${route.projectId}; remove that route first.`);
    }
    if (!route) {
      await tx.aeRoute.create({ data: { aeTitle: DEMO_AE_TITLE, projectId: DEMO_PROJECT_ID, allowedCallingAes: [], allowedAddresses: [] } });
      await writeAudit(tx, { projectId: DEMO_PROJECT_ID, actorId: null, action: "intake.ae.add", targetType: "aeRoute", targetId: DEMO_AE_TITLE, after: { by: "atrium seed-demo" } });
    }
    if (ownerEmail) {
      const email = ownerEmail.trim().toLowerCase();
      const user = await tx.user.findUnique({ where: { email } });
      if (user) {
        await tx.projectMember.upsert({
          where: { projectId_userId: { projectId: DEMO_PROJECT_ID, userId: user.id } },
          create: { projectId: DEMO_PROJECT_ID, userId: user.id, role: "owner" },
          update: { role: "owner" },
        });
        await writeAudit(tx, { projectId: DEMO_PROJECT_ID, actorId: null, action: "member.add", targetType: "user", targetId: user.id, after: { role: "owner", by: "atrium seed-demo" } });
      } else if (!(await tx.projectInvitation.findFirst({ where: { projectId: DEMO_PROJECT_ID, email } }))) {
        const inv = await tx.projectInvitation.create({ data: { projectId: DEMO_PROJECT_ID, email, role: "owner", invitedById: null } });
        await writeAudit(tx, { projectId: DEMO_PROJECT_ID, actorId: null, action: "invitation.create", targetType: "invitation", targetId: inv.id, after: { role: "owner", by: "atrium seed-demo" } });
      }
    }
    return { created };
  });
}

/** DEMO follows the default workflow (workflows/default.yaml) unless it has one already. */
export async function ensureDemoWorkflow(prisma: PrismaClient): Promise<boolean> {
  if (await prisma.governorWorkflow.findFirst({ where: { projectId: DEMO_PROJECT_ID }, select: { id: true } })) return false;
  const [{ importWorkflowYaml, DEFAULT_WORKFLOW_YAML }, { installWorkflow }] = await Promise.all([import("@/lib/governor"), import("@/server/governor/engine")]);
  await installWorkflow(prisma, DEMO_PROJECT_ID, importWorkflowYaml(DEFAULT_WORKFLOW_YAML), null);
  return true;
}
