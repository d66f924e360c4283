// Bad input gets a clear error that says what is wrong and what to do, and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import { readableZodMessage } from "@/server/trpc/init";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, snapshot, type People } from "../helpers/fixtures";
import { createSession, sessionUserFromHeaders, SESSION_COOKIE } from "@/server/auth/session";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  // These tests create projects as ordinary users: the site lets everyone (the default is admins only).
  await db.prisma.siteSettings.create({ data: { projectCreation: "all" } });
});
afterAll(async () => db?.drop());

async function rejects(call: () => Promise<unknown>, code: TRPCError["code"], message: RegExp) {
  const before = await snapshot(db.prisma);
  const error = await call().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, "the call must fail").toBeInstanceOf(TRPCError);
  expect((error as TRPCError).code).toBe(code);
  // What the portal shows: tRPC's error formatter turns validation issues into this sentence.
  const cause = (error as TRPCError).cause;
  const shown = cause instanceof ZodError ? readableZodMessage(cause) : (error as TRPCError).message;
  expect(shown).toMatch(message);
  expect(await snapshot(db.prisma), "a refused call changes nothing").toEqual(before);
}

describe("project ids", () => {
  const owner = () => callerFor(db.prisma, people.sessions.owner);

  for (const bad of ["", "a", "1ABC", "has space", "semi;colon", "../etc", "ä_umlaut", "x".repeat(33), "-lead"]) {
    it(`refuses the invalid id ${JSON.stringify(bad)}`, async () => {
      await rejects(() => owner().project.create({ id: bad, name: "X" }), "BAD_REQUEST", /Project id must be 2–32 characters/);
    });
  }

  it("refuses a duplicate id, also in another case", async () => {
    await owner().project.create({ id: "DUP_ONE", name: "First" });
    await rejects(() => owner().project.create({ id: "DUP_ONE", name: "Again" }), "CONFLICT", /already exists.*Choose another id/);
    await rejects(() => owner().project.create({ id: "dup_one", name: "Again" }), "CONFLICT", /regardless of case/);
  });

  it("two concurrent creations of one id: exactly one wins, the other gets the clear error", async () => {
    const results = await Promise.allSettled([
      owner().project.create({ id: "RACE_ID", name: "A" }),
      callerFor(db.prisma, people.sessions.member).project.create({ id: "race_id", name: "B" }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const failure = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((failure.reason as TRPCError).code).toBe("CONFLICT");
    expect(await db.prisma.project.count({ where: { idLower: "race_id" } })).toBe(1);
  });

  it("refuses a missing name and an unknown accessibility with field errors", async () => {
    await rejects(() => owner().project.create({ id: "NONAME", name: "  " }), "BAD_REQUEST", /name: Give the project a name/);
    await rejects(
      () => owner().project.create({ id: "BADACC", name: "X", accessibility: "secret" as never }),
      "BAD_REQUEST",
      /accessibility/,
    );
  });

  it("a project id cannot be changed by update", async () => {
    const f = await createProjectFixture(db.prisma, people, "IMMUTABLE", "private");
    await owner().project.update({ projectId: f.projectId, id: "OTHER" } as never);
    expect(await db.prisma.project.findUnique({ where: { id: "OTHER" } })).toBeNull();
    expect(await db.prisma.project.findUnique({ where: { id: "IMMUTABLE" } })).not.toBeNull();
  });
});

describe("members", () => {
  it("refuses to change or remove a user who is not a member", async () => {
    const f = await createProjectFixture(db.prisma, people, "UNKNOWN_U", "private");
    const owner = callerFor(db.prisma, people.sessions.owner);
    await rejects(() => owner.member.remove({ projectId: f.projectId, userId: "no-such-user" }), "NOT_FOUND", /not a member.*Reload/);
    await rejects(
      () => owner.member.changeRole({ projectId: f.projectId, userId: people.users.outsider.id, role: "owner" }),
      "NOT_FOUND",
      /not a member/,
    );
    await rejects(() => owner.member.cancelInvitation({ projectId: f.projectId, invitationId: "nope" }), "NOT_FOUND", /No such invitation/);
  });

  it("refuses an invalid e-mail and a second invitation of the same address", async () => {
    const f = await createProjectFixture(db.prisma, people, "INVITES", "private");
    const owner = callerFor(db.prisma, people.sessions.owner);
    await rejects(() => owner.member.invite({ projectId: f.projectId, email: "not-an-email", role: "member" }), "BAD_REQUEST", /valid e-mail/);
    await owner.member.invite({ projectId: f.projectId, email: "Later@Atrium.test", role: "member" });
    await rejects(() => owner.member.invite({ projectId: f.projectId, email: "later@atrium.test", role: "owner" }), "CONFLICT", /already invited/);
    await rejects(
      () => owner.member.invite({ projectId: f.projectId, email: people.users.member.email, role: "owner" }),
      "CONFLICT",
      /already a member.*Change their role/,
    );
  });

  it("the last owner can be neither removed nor demoted", async () => {
    const f = await createProjectFixture(db.prisma, people, "LAST_OWNER", "private");
    const owner = callerFor(db.prisma, people.sessions.owner);
    await rejects(() => owner.member.remove({ projectId: f.projectId, userId: people.users.owner.id }), "PRECONDITION_FAILED", /at least one owner/);
    await rejects(
      () => owner.member.changeRole({ projectId: f.projectId, userId: people.users.owner.id, role: "member" }),
      "PRECONDITION_FAILED",
      /Make someone else an owner first/,
    );
    // With a second owner, one of them may leave.
    await owner.member.changeRole({ projectId: f.projectId, userId: people.users.member.id, role: "owner" });
    await owner.member.remove({ projectId: f.projectId, userId: people.users.owner.id });
    const owners = await db.prisma.projectMember.findMany({ where: { projectId: f.projectId, role: "owner" } });
    expect(owners.map((o) => o.userId)).toEqual([people.users.member.id]);
  });

  it("two owners demoting each other at the same time leave one owner", async () => {
    const f = await createProjectFixture(db.prisma, people, "DUEL", "private");
    await db.prisma.projectMember.update({
      where: { projectId_userId: { projectId: f.projectId, userId: people.users.member.id } },
      data: { role: "owner" },
    });
    const a = callerFor(db.prisma, people.sessions.owner);
    const b = callerFor(db.prisma, people.sessions.member);
    await Promise.allSettled([
      a.member.changeRole({ projectId: f.projectId, userId: people.users.member.id, role: "member" }),
      b.member.changeRole({ projectId: f.projectId, userId: people.users.owner.id, role: "member" }),
    ]);
    expect(await db.prisma.projectMember.count({ where: { projectId: f.projectId, role: "owner" } })).toBe(1);
  });
});

describe("session cookies", () => {
  it("a tampered, expired, oversized or foreign cookie signs no one in", async () => {
    const { token } = await createSession(db.prisma, people.users.owner.id);
    const asCookie = (v: string) => new Headers({ cookie: `${SESSION_COOKIE}=${v}` });
    expect((await sessionUserFromHeaders(db.prisma, asCookie(token)))?.id).toBe(people.users.owner.id);
    const flipped = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
    expect(await sessionUserFromHeaders(db.prisma, asCookie(flipped))).toBeNull();
    expect(await sessionUserFromHeaders(db.prisma, asCookie(token + "x"))).toBeNull();
    expect(await sessionUserFromHeaders(db.prisma, asCookie("' OR 1=1 --"))).toBeNull();
    expect(await sessionUserFromHeaders(db.prisma, asCookie("a".repeat(5000)))).toBeNull();
    expect(await sessionUserFromHeaders(db.prisma, new Headers({ cookie: `other=${token}` }))).toBeNull();
    const expired = await createSession(db.prisma, people.users.owner.id);
    await db.prisma.session.update({ where: { sessionToken: expired.token }, data: { expires: new Date(Date.now() - 1000) } });
    expect(await sessionUserFromHeaders(db.prisma, asCookie(expired.token))).toBeNull();
  });

  it("with a tampered cookie, the API answers UNAUTHORIZED and changes nothing", async () => {
    const user = await sessionUserFromHeaders(db.prisma, new Headers({ cookie: `${SESSION_COOKIE}=forged-token` }));
    await rejects(() => callerFor(db.prisma, user).project.create({ id: "FORGED", name: "X" }), "UNAUTHORIZED", /Sign in/);
  });
});
