// The archive procedures' behaviour (access itself is in tests/access/matrix.test.ts): secrets are
// sealed and never returned nor audited, a stored secret is reused only for its URL and user, the
// connection test reads the XNAT test server over HTTP, status counts, and retry queues again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, type People, type ProjectFixture } from "../helpers/fixtures";
import type { XnatTestServer } from "../xnat/server";
import { ALICE, startServer } from "../xnat/helpers";
import { openSecret } from "@/server/secrets";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let f: ProjectFixture;
let server: XnatTestServer;

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  f = await createProjectFixture(db.prisma, people, "ARCHR", "private");
  server = await startServer();
});
afterAll(async () => {
  await emptyQueuesAndDisconnect(["archive"]);
  await db?.drop();
  await server?.close();
});

const owner = () => callerFor(db.prisma, people.sessions.owner);
const collaborator = () => callerFor(db.prisma, people.sessions.collaborator);

describe("archive target", () => {
  it("is the local archive by default; an XNAT target is stored sealed and never returned or audited with its secret", async () => {
    expect(await collaborator().archive.target({ projectId: f.projectId })).toMatchObject({ kind: "local", hasSecret: false });
    await owner().archive.setTarget({ projectId: f.projectId, kind: "xnat", xnatUrl: `${server.url}/`, xnatProject: "P1", xnatUser: ALICE.login, xnatSecret: ALICE.password });
    const t = await collaborator().archive.target({ projectId: f.projectId });
    expect(t).toEqual({ kind: "xnat", xnatUrl: server.url, xnatProject: "P1", xnatUser: "alice", hasSecret: true, updatedAt: expect.any(Date) });
    expect(JSON.stringify(t)).not.toContain(ALICE.password);
    const row = await db.prisma.projectArchiveTarget.findUniqueOrThrow({ where: { projectId: f.projectId } });
    expect(row.xnatSecretSealed).not.toContain(ALICE.password);
    expect(openSecret(row.xnatSecretSealed!, { table: "ProjectArchiveTarget", id: f.projectId, field: "xnatSecretSealed" })).toBe(ALICE.password);
    const audit = await db.prisma.auditEvent.findMany({ where: { projectId: f.projectId, action: "archive.target" } });
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(ALICE.password);
  });

  it("keeps the stored secret only for the same URL and user", async () => {
    await owner().archive.setTarget({ projectId: f.projectId, kind: "xnat", xnatUrl: server.url, xnatProject: "P2", xnatUser: ALICE.login });
    expect((await collaborator().archive.target({ projectId: f.projectId })).xnatProject).toBe("P2");
    await expect(owner().archive.setTarget({ projectId: f.projectId, kind: "xnat", xnatUrl: "https://elsewhere.example.org", xnatProject: "P2", xnatUser: ALICE.login })).rejects.toThrow(
      /Enter the password/,
    );
    const bad = owner().archive.setTarget({ projectId: f.projectId, kind: "xnat", xnatUrl: "ftp://x", xnatProject: "P 2", xnatUser: "a" });
    await expect(bad).rejects.toThrow(/http\(s\) root URL/);
    await expect(bad).rejects.toThrow(/project's ID on that XNAT/);
    // The stored secret is not sent to another server by a connection test either.
    expect(await owner().archive.testConnection({ projectId: f.projectId, xnat: { xnatUrl: "http://127.0.0.1:9", xnatProject: "P2", xnatUser: "alice" } })).toMatchObject({
      ok: false,
      message: expect.stringMatching(/Enter the password/),
    });
  });

  it("tests the saved target or the form's values: version and rights, or what to fix", async () => {
    expect(await owner().archive.testConnection({ projectId: f.projectId })).toMatchObject({ ok: true, version: "1.8.10", login: "alice", role: "member" });
    expect(
      await owner().archive.testConnection({ projectId: f.projectId, xnat: { xnatUrl: server.url, xnatProject: "P1", xnatUser: "bob", xnatSecret: "bob-secret-88" } }),
    ).toMatchObject({ ok: false, role: "collaborator", message: expect.stringMatching(/Member/) });
    await owner().archive.setTarget({ projectId: f.projectId, kind: "local" });
    expect(await collaborator().archive.target({ projectId: f.projectId })).toMatchObject({ kind: "local", xnatUrl: null });
    expect(await db.prisma.projectArchiveTarget.findUniqueOrThrow({ where: { projectId: f.projectId } })).toMatchObject({ kind: "local", xnatSecretSealed: null });
  });
});

describe("archive status and retry", () => {
  it("counts per state, lists the studies with their reason, and an owner's retry queues a failed study again", async () => {
    const s = await collaborator().archive.status({ projectId: f.projectId });
    expect(s.counts).toEqual({ queued: 0, sending: 0, verifying: 0, archived: 0, failed: 1 });
    expect(s.studies).toEqual([expect.objectContaining({ studyId: f.failedArchiveStudyId, state: "failed", attempts: 10, lastError: expect.stringMatching(/refused/), subjectLabel: "SUBJ-0001" })]);
    expect(await owner().archive.retry({ projectId: f.projectId, studyId: f.failedArchiveStudyId })).toEqual({ state: "queued" });
    const after = await collaborator().archive.status({ projectId: f.projectId });
    expect(after.counts).toMatchObject({ queued: 1, failed: 0 });
    expect(after.studies[0]).toMatchObject({ state: "queued", attempts: 0 });
    const { getQueue } = await import("@/server/queues");
    const jobs = await getQueue("archive").getJobs(["waiting", "delayed", "prioritized"]);
    expect(jobs.map((j) => j.data)).toContainEqual({ studyId: f.failedArchiveStudyId, attempt: 1 });
    await expect(owner().archive.retry({ projectId: f.projectId, studyId: f.failedArchiveStudyId })).rejects.toThrow(/no failed archive/);
    expect(await db.prisma.auditEvent.count({ where: { projectId: f.projectId, action: "archive.retry" } })).toBe(1);
  });

  it("an archived study carries its verification note (e.g. XNAT decompressed it); others none", async () => {
    const note = "Verified by SOP Instance UID: the 1 instance (1 series) is on XNAT; this XNAT decompresses images on import: 1 of 1 series sent compressed is stored decompressed (524,288 bytes for 131,072 sent; not an error, but they take more space there).";
    await db.prisma.studyArchive.update({ where: { studyId: f.failedArchiveStudyId }, data: { state: "archived", archivedAt: new Date(), verificationNote: note } });
    const s = await collaborator().archive.status({ projectId: f.projectId, state: "archived" });
    expect(s.studies).toEqual([expect.objectContaining({ studyId: f.failedArchiveStudyId, state: "archived", verificationNote: note })]);
    await db.prisma.studyArchive.update({ where: { studyId: f.failedArchiveStudyId }, data: { verificationNote: null } });
    expect((await collaborator().archive.status({ projectId: f.projectId })).studies[0]!.verificationNote).toBeNull();
  });
});
