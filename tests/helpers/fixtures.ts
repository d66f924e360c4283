// People and projects for API tests. Users reach the API the way the portal's do: through a
// database session resolved by sessionUserFromToken (so ATRIUM_ADMINS is honoured).
import type { PrismaClient } from "@/server/db/generated/client";
import { createSession, sessionUserFromToken, type SessionUser } from "@/server/auth/session";
import { createCallerFactory } from "@/server/trpc/init";
import { appRouter } from "@/server/routers";
import { sealSecret } from "@/server/secrets";

export const ADMIN_EMAIL = "admin@atrium.test";
process.env.ATRIUM_QUEUE_PREFIX ??= `atrium-test-${process.pid}`;
process.env.ATRIUM_ADMINS = ADMIN_EMAIL;
// Stored secrets (webhook signing secrets) are sealed with this key in tests.
process.env.ATRIUM_SECRET_KEY ??= "atrium-test-secret-key-not-for-production";

export const actors = ["anonymous", "outsider", "collaborator", "member", "owner", "siteAdmin"] as const;
export type Actor = (typeof actors)[number];

export interface People {
  users: Record<Exclude<Actor, "anonymous"> | "target", { id: string; email: string }>;
  sessions: Record<Actor, SessionUser | null>;
}

export async function createPeople(prisma: PrismaClient, tag = ""): Promise<People> {
  const spec = {
    outsider: `outsider${tag}@atrium.test`,
    collaborator: `collaborator${tag}@atrium.test`,
    member: `member${tag}@atrium.test`,
    owner: `owner${tag}@atrium.test`,
    siteAdmin: tag ? `admin${tag}@atrium.test` : ADMIN_EMAIL,
    target: `target${tag}@atrium.test`,
  } as const;
  const users = {} as People["users"];
  for (const [key, email] of Object.entries(spec)) {
    const u = await prisma.user.create({ data: { email, name: key } });
    users[key as keyof typeof spec] = { id: u.id, email };
  }
  const sessions = { anonymous: null } as People["sessions"];
  for (const key of ["outsider", "collaborator", "member", "owner", "siteAdmin"] as const) {
    const { token } = await createSession(prisma, users[key].id);
    sessions[key] = await sessionUserFromToken(prisma, token);
  }
  return { users, sessions };
}

export interface ProjectFixture {
  projectId: string;
  invitationId: string;
  aeTitle: string;
  quarantinedId: string;
  /** An active API token of the project (its plaintext is not kept). */
  tokenId: string;
  webhookSourceId: string;
  /** An intake study whose archive failed (for archive.retry). */
  failedArchiveStudyId: string;
  /** An experiment of the project's local archive index (subject FIXSUBJ, no files). */
  archiveExperimentId: string;
  /** A (disabled) routing rule of the project. */
  ruleId: string;
  /** A quarantined instance no project accepted (projectId null). */
  unroutedId: string;
}

/** A project with an owner, a member, a collaborator, a removable member (target) and a pending invitation. */
export async function createProjectFixture(
  prisma: PrismaClient,
  people: People,
  projectId: string,
  accessibility: "private" | "protected" | "public",
): Promise<ProjectFixture> {
  const { users } = people;
  await prisma.project.create({
    data: {
      id: projectId,
      idLower: projectId.toLowerCase(),
      name: `Project ${projectId}`,
      accessibility,
      members: {
        create: [
          { userId: users.owner.id, role: "owner" },
          { userId: users.member.id, role: "member" },
          { userId: users.collaborator.id, role: "collaborator" },
          { userId: users.target.id, role: "member" },
        ],
      },
    },
  });
  const inv = await prisma.projectInvitation.create({
    data: { projectId, email: `invitee-${projectId.toLowerCase()}@atrium.test`, role: "member", invitedById: users.owner.id },
  });
  const aeTitle = projectId.toUpperCase().slice(0, 16);
  await prisma.aeRoute.create({ data: { aeTitle, projectId, allowedCallingAes: [], allowedAddresses: [] } });
  const q = await prisma.receivedInstance.create({
    data: {
      projectId,
      channel: "cstore",
      batchId: "fixture",
      stagingPath: `staging/fixture/${projectId}.dcm`,
      sizeBytes: 3,
      sha256: "0".repeat(64),
      status: "quarantined",
      reason: "Not DICOM (fixture).",
    },
  });
  const tok = await prisma.projectApiToken.create({
    data: { projectId, name: "fixture token", prefix: "atr_fixture0", tokenHash: `fixture-${projectId}`, scopes: ["stow"], createdById: users.owner.id },
  });
  const wh = await prisma.webhookSource.create({
    data: { id: `wh_${projectId}`, projectId, name: "Fixture PACS", secretSealed: sealSecret("fixture-secret"), nodeKind: "orthanc", nodeUrl: "http://127.0.0.1:9" },
  });
  const study = await prisma.intakeStudy.create({
    data: {
      projectId,
      studyInstanceUid: "1.2.826.0.1.3680043.10.1",
      subjectLabel: "SUBJ-0001",
      status: "failed",
      archive: { create: { projectId, state: "failed", attempts: 10, lastError: "Fixture: XNAT refused the login." } },
    },
  });
  const subj = await prisma.archiveSubject.create({ data: { projectId, label: "FIXSUBJ" } });
  const exp = await prisma.archiveExperiment.create({
    data: { projectId, subjectId: subj.id, label: `FIXSUBJ_${projectId}`, studyInstanceUid: `2.25.${projectId.length}${Date.now()}` },
  });
  // Disabled, so that it changes no routing decision of the tests that use this fixture.
  const rule = await prisma.routingRule.create({ data: { projectId, position: 0, expression: 'Modality == "MR"', enabled: false, createdById: users.owner.id } });
  const unrouted = await prisma.receivedInstance.create({
    data: {
      projectId: null,
      channel: "cstore",
      batchId: "fixture",
      calledAe: "ATRIUM",
      stagingPath: `staging/fixture/unrouted-${projectId}.dcm`,
      sizeBytes: 3,
      sha256: "0".repeat(64),
      status: "quarantined",
      reason: "No project accepts this (fixture).",
      reasonCode: "no_route",
    },
  });
  return { projectId, invitationId: inv.id, aeTitle, quarantinedId: q.id, tokenId: tok.id, webhookSourceId: wh.id, ruleId: rule.id, unroutedId: unrouted.id, failedArchiveStudyId: study.id, archiveExperimentId: exp.id };
}

const createCaller = createCallerFactory(appRouter);

export function callerFor(prisma: PrismaClient, user: SessionUser | null) {
  return createCaller({ prisma, user });
}

/** Everything an API call could change, in a comparable form. */
export async function snapshot(prisma: PrismaClient) {
  const [projects, members, invitations, audit, users, sessions, intake, aeRoutes, instances, tokens, webhookSources, routingRules] = await Promise.all([
    prisma.project.findMany({ orderBy: { id: "asc" } }),
    prisma.projectMember.findMany({ orderBy: [{ projectId: "asc" }, { userId: "asc" }] }),
    prisma.projectInvitation.findMany({ orderBy: { id: "asc" } }),
    prisma.auditEvent.count(),
    prisma.user.findMany({ orderBy: { id: "asc" } }),
    prisma.session.count(),
    prisma.projectIntake.findMany({ orderBy: { projectId: "asc" } }),
    prisma.aeRoute.findMany({ orderBy: { aeTitle: "asc" } }),
    prisma.receivedInstance.findMany({ orderBy: { id: "asc" } }),
    prisma.projectApiToken.findMany({ orderBy: { id: "asc" } }),
    prisma.webhookSource.findMany({ orderBy: { id: "asc" } }),
    prisma.routingRule.findMany({ orderBy: { id: "asc" } }),
  ]);
  return JSON.stringify({ projects, members, invitations, audit, users, sessions, intake, aeRoutes, instances, tokens, webhookSources, routingRules }, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
}
