// The access matrix: every tRPC procedure × every kind of caller × every project accessibility.
// Expected outcomes are written from the issue's rules, independently of lib/access.
// A procedure in appRouter without a row here fails the first test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { appRouter } from "@/server/routers";
import { createTestDatabase } from "../helpers/pg";
import { actors, callerFor, createPeople, createProjectFixture, snapshot, type Actor, type People, type ProjectFixture } from "../helpers/fixtures";

type Accessibility = "private" | "protected" | "public";
type Level = "none" | "listed" | "collaborator" | "member" | "owner";
type Requirement = "public" | "signedIn" | "siteAdmin" | Exclude<Level, "none">;

/** What each caller may do in a project, as the Foundation issue states it. */
const LEVEL: Record<Actor, Record<Accessibility, Level>> = {
  anonymous: { private: "none", protected: "none", public: "none" },
  outsider: { private: "none", protected: "listed", public: "collaborator" },
  collaborator: { private: "collaborator", protected: "collaborator", public: "collaborator" },
  member: { private: "member", protected: "member", public: "member" },
  owner: { private: "owner", protected: "owner", public: "owner" },
  siteAdmin: { private: "owner", protected: "owner", public: "owner" },
};
const ORDER: Level[] = ["none", "listed", "collaborator", "member", "owner"];

interface Row {
  requires: Requirement;
  mutates: boolean;
  input: (f: ProjectFixture, people: People, n: number) => unknown;
}

const MATRIX: Record<string, Row> = {
  "me.get": { requires: "public", mutates: false, input: () => undefined },
  "project.list": { requires: "signedIn", mutates: false, input: () => ({}) },
  "project.create": { requires: "signedIn", mutates: true, input: (_f, _p, n) => ({ id: `NEW_${n}`, name: "New" }) },
  "project.get": { requires: "listed", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "project.update": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, name: "Renamed" }) },
  "member.list": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "member.invite": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, email: "newcomer@atrium.test", role: "collaborator" }),
  },
  "member.changeRole": {
    requires: "owner",
    mutates: true,
    input: (f, p) => ({ projectId: f.projectId, userId: p.users.target.id, role: "collaborator" }),
  },
  "member.remove": { requires: "owner", mutates: true, input: (f, p) => ({ projectId: f.projectId, userId: p.users.target.id }) },
  "member.cancelInvitation": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, invitationId: f.invitationId }),
  },
  "audit.list": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "admin.users": { requires: "siteAdmin", mutates: false, input: () => undefined },
  "intake.settings": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "intake.updateSettings": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, stableAfterSeconds: 30 }) },
  "intake.addAeRoute": { requires: "owner", mutates: true, input: (f, _p, n) => ({ projectId: f.projectId, aeTitle: `NEWAE${n}` }) },
  "intake.removeAeRoute": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, aeTitle: f.aeTitle }) },
  "intake.summary": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "intake.quarantine": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  // Viewing identifying header values is itself audited: an allowed call writes an audit event.
  "intake.originalHeader": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.quarantinedId }) },
  "intake.retry": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.quarantinedId }) },
  "intake.deleteQuarantined": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.quarantinedId }) },
  "token.list": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "token.create": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, name: "PACS export", scopes: ["stow"] }) },
  "token.revoke": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, tokenId: f.tokenId }) },
  // Webhook sources hold signing secrets and node credentials: owners only.
  "webhook.list": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "webhook.create": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, name: "PACS", nodeKind: "orthanc", nodeUrl: "http://orthanc.example:8042" }),
  },
  "webhook.setEnabled": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, sourceId: f.webhookSourceId, enabled: false }) },
  "webhook.rotateSecret": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, sourceId: f.webhookSourceId }) },
  "webhook.remove": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, sourceId: f.webhookSourceId }) },
  // Browser upload (the HTTP route POST /api/projects/{id}/upload is tested in tests/intake/upload.test.ts).
  "upload.batch": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId, batchId: "6f1c2a4e-0b7d-4c1e-9a53-2d8e7f4b1c90" }) },
};

type Expected = { allowed: true } | { allowed: false; code: "UNAUTHORIZED" | "FORBIDDEN" | "NOT_FOUND" };

function expected(row: Row, actor: Actor, acc: Accessibility): Expected {
  if (row.requires === "public") return { allowed: true };
  if (actor === "anonymous") return { allowed: false, code: "UNAUTHORIZED" };
  if (row.requires === "signedIn") return { allowed: true };
  if (row.requires === "siteAdmin") return actor === "siteAdmin" ? { allowed: true } : { allowed: false, code: "FORBIDDEN" };
  const level = LEVEL[actor][acc];
  if (level === "none") return { allowed: false, code: "NOT_FOUND" };
  return ORDER.indexOf(level) >= ORDER.indexOf(row.requires) ? { allowed: true } : { allowed: false, code: "FORBIDDEN" };
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
});
afterAll(async () => {
  await db?.drop();
  const { closeQueues, getQueue } = await import("@/server/queues");
  await getQueue("deid").obliterate({ force: true });
  await closeQueues();
  await (await import("@/server/redis")).closeSharedRedis();
});

it("every procedure of the API has a row in the matrix, and every row names a procedure", () => {
  const procedures = Object.keys(appRouter._def.procedures).sort();
  expect(procedures).toEqual(Object.keys(MATRIX).sort());
});

let n = 0;
for (const [path, row] of Object.entries(MATRIX)) {
  describe(path, () => {
    for (const acc of ["private", "protected", "public"] as const) {
      for (const actor of actors) {
        const want = expected(row, actor, acc);
        it(`${actor} on a ${acc} project: ${want.allowed ? "allowed" : `denied (${want.code})`}`, async () => {
          const i = ++n;
          const fixture = await createProjectFixture(db.prisma, people, `P${i}_${acc.slice(0, 3)}`, acc);
          const caller = callerFor(db.prisma, people.sessions[actor]) as unknown as Record<string, Record<string, (x: unknown) => Promise<unknown>>>;
          const [group, proc] = path.split(".") as [string, string];
          const before = await snapshot(db.prisma);
          let error: unknown = null;
          try {
            await caller[group]![proc]!(row.input(fixture, people, i));
          } catch (e) {
            error = e;
          }
          const after = await snapshot(db.prisma);
          if (want.allowed) {
            expect(error, `expected ${path} to be allowed for ${actor}`).toBeNull();
            if (row.mutates) expect(after, "an allowed change must change something (and audit it)").not.toEqual(before);
            else expect(after).toEqual(before);
          } else {
            expect(error).toBeInstanceOf(TRPCError);
            expect((error as TRPCError).code).toBe(want.code);
            expect((error as TRPCError).message.length).toBeGreaterThan(10);
            expect(after, "a denied call must change nothing").toEqual(before);
          }
        });
      }
    }
  });
}

describe("what each caller sees", () => {
  it("project.list shows members their projects, everyone the protected and public ones, admins all", async () => {
    const p = await createPeople(db.prisma, "-list");
    const priv = await createProjectFixture(db.prisma, p, "LIST_PRIV", "private");
    const prot = await createProjectFixture(db.prisma, p, "LIST_PROT", "protected");
    const pub = await createProjectFixture(db.prisma, p, "LIST_PUB", "public");
    const ids = async (who: People["sessions"][Actor]) =>
      (await callerFor(db.prisma, who).project.list({ search: "LIST_" })).map((x) => x.id).sort();
    expect(p.sessions.siteAdmin?.siteAdmin, "only ATRIUM_ADMINS are site admins").toBe(false);
    expect(await ids(p.sessions.siteAdmin)).toEqual([prot.projectId, pub.projectId].sort());
    expect(await ids(p.sessions.outsider)).toEqual([prot.projectId, pub.projectId].sort());
    expect(await ids(p.sessions.collaborator)).toEqual([priv.projectId, prot.projectId, pub.projectId].sort());
    expect(await ids(people.sessions.siteAdmin)).toEqual([priv.projectId, prot.projectId, pub.projectId].sort());
  });

  it("member.list hides pending invitations from everyone but owners", async () => {
    const f = await createProjectFixture(db.prisma, people, "INV_VIS", "private");
    const asMember = await callerFor(db.prisma, people.sessions.member).member.list({ projectId: f.projectId });
    const asOwner = await callerFor(db.prisma, people.sessions.owner).member.list({ projectId: f.projectId });
    expect(asMember.invitations).toEqual([]);
    expect(asOwner.invitations.map((i) => i.id)).toEqual([f.invitationId]);
  });
});
