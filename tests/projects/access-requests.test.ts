// Issue #21 "a non-member has no request access": someone who sees a project asks to take part;
// owners see the request, approve it with a role (never lowering one) or decline it; the requester
// sees where it stands; asking again after a decline reopens it. Audited. On real PostgreSQL
// through the tRPC procedures.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
const P = "OPENSTUDY";

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  const u = people.users;
  await db.prisma.project.create({
    data: { id: P, idLower: P.toLowerCase(), name: "Open study", accessibility: "protected", members: { create: [{ userId: u.owner.id, role: "owner" }, { userId: u.member.id, role: "member" }, { userId: u.collaborator.id, role: "collaborator" }] } },
  });
});
afterAll(async () => {
  await db?.drop();
});

describe("access requests", () => {
  it("an outsider asks, sees it pending; an owner sees it and approves with a role; the outsider is then a member", async () => {
    const outsider = callerFor(db.prisma, people.sessions.outsider);
    const owner = callerFor(db.prisma, people.sessions.owner);
    expect(await outsider.member.myAccessRequest({ projectId: P })).toBeNull();
    expect(await outsider.member.requestAccess({ projectId: P, role: "member", message: "I read the baseline scans" })).toEqual({ status: "pending", role: "member" });
    expect(await outsider.member.myAccessRequest({ projectId: P })).toMatchObject({ status: "pending", role: "member", message: "I read the baseline scans" });
    const pending = await owner.member.accessRequests({ projectId: P });
    expect(pending.map((r) => [r.email, r.role, r.message])).toEqual([[people.users.outsider.email, "member", "I read the baseline scans"]]);
    // The owner gives less than asked: a collaborator.
    expect(await owner.member.decideAccess({ projectId: P, requestId: pending[0]!.id, decision: "approve", role: "collaborator" })).toEqual({ status: "approved", role: "collaborator" });
    expect((await db.prisma.projectMember.findUniqueOrThrow({ where: { projectId_userId: { projectId: P, userId: people.users.outsider.id } } })).role).toBe("collaborator");
    expect(await owner.member.accessRequests({ projectId: P })).toEqual([]);
    await expect(owner.member.decideAccess({ projectId: P, requestId: pending[0]!.id, decision: "decline" })).rejects.toMatchObject({ code: "CONFLICT", message: "This request was approved already." });
    expect((await db.prisma.auditEvent.findMany({ where: { projectId: P, action: { startsWith: "access." } }, orderBy: { createdAt: "asc" } })).map((a) => a.action)).toEqual(["access.request", "access.approve"]);
  });

  it("a collaborator asks for member access; a decline closes it and asking again reopens it; approving never lowers a role", async () => {
    const collab = callerFor(db.prisma, people.sessions.collaborator);
    const owner = callerFor(db.prisma, people.sessions.owner);
    await collab.member.requestAccess({ projectId: P, role: "member", message: "" });
    let [r] = await owner.member.accessRequests({ projectId: P });
    expect(await owner.member.decideAccess({ projectId: P, requestId: r!.id, decision: "decline" })).toEqual({ status: "declined", role: null });
    expect(await collab.member.myAccessRequest({ projectId: P })).toMatchObject({ status: "declined" });
    expect((await collab.member.requestAccess({ projectId: P, role: "member", message: "please" })).status).toBe("pending");
    [r] = await owner.member.accessRequests({ projectId: P });
    await owner.member.decideAccess({ projectId: P, requestId: r!.id, decision: "approve" });
    expect((await db.prisma.projectMember.findUniqueOrThrow({ where: { projectId_userId: { projectId: P, userId: people.users.collaborator.id } } })).role).toBe("member");
  });

  it("members and owners have access already; a private project is not found for an outsider; only owners decide", async () => {
    expect(await callerFor(db.prisma, people.sessions.member).member.requestAccess({ projectId: P, role: "member", message: "" })).toEqual({ status: "has access", role: "member" });
    expect(await db.prisma.accessRequest.count({ where: { projectId: P, userId: people.users.member.id } })).toBe(0);
    await db.prisma.project.create({ data: { id: "SECRET", idLower: "secret", name: "Secret", accessibility: "private" } });
    await expect(callerFor(db.prisma, people.sessions.outsider).member.requestAccess({ projectId: "SECRET", role: "member", message: "" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(callerFor(db.prisma, people.sessions.member).member.accessRequests({ projectId: P })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});
