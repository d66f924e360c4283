// The XNAT archive driver against the XNAT test server over real HTTP: send, verify, merge on
// re-archive, retries after injected failures without duplicates, and the connection test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { XnatArchiveDriver, credentialsFor, testXnatConnection, type XnatArchiveTarget } from "@/lib/archive/xnat-driver";
import type { XnatTestServer } from "../xnat/server";
import { ALICE, BOB, CAROL, CT_STUDY, MR_STUDY, fastRetry, startServer } from "../xnat/helpers";
import { studyOf } from "./helpers";

let server: XnatTestServer;
const client = { retry: fastRetry, timeoutMs: 5_000 };

function target(user: { login: string; password: string } = ALICE, project = "P1"): XnatArchiveTarget {
  return { url: server.url, project, credentials: { username: user.login, password: user.password } };
}
function driver(user: { login: string; password: string } = ALICE, project = "P1") {
  return new XnatArchiveDriver(target(user, project), { client });
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
});

describe("XNAT archive driver", () => {
  it("sends a study into the named project, subject and session with prevent_anon, and verifies it from the listings", async () => {
    const study = studyOf(MR_STUDY, "SUBJ-0001", "s1");
    const seen: number[] = [];
    const { location } = await driver().send(study, (p) => seen.push(p.doneBytes));
    const [exp, ...more] = server.experimentsByLabel("P1", study.experimentLabel);
    expect(location).toBe(`${server.url}/data/experiments/${exp!.id}`);
    expect(more).toHaveLength(0);
    expect(server.filesOf(exp!)).toHaveLength(6);
    const imp = server.requests.filter((r) => r.path === "/data/services/import").at(-1)!;
    expect(imp.query).toMatchObject({ project: "P1", subject: "SUBJ-0001", session: study.experimentLabel, prevent_anon: "true", "import-handler": "DICOM-zip" });
    expect(seen.at(-1)).toBe(study.instances.reduce((n, i) => n + i.sizeBytes, 0));

    const v = await driver().verify(study);
    expect(v).toMatchObject({ ok: true, expected: { scans: 1, files: 6 }, found: { scans: 1, files: 6 } });
  });

  it("re-archiving after new instances merges into the same experiment without duplicating files", async () => {
    const first = studyOf(MR_STUDY.slice(0, 3), "SUBJ-0002", "s2");
    await driver().send(first);
    expect((await driver().verify(first)).ok).toBe(true);
    const all = studyOf(MR_STUDY, "SUBJ-0002", "s2");
    expect(all.experimentLabel).toBe(first.experimentLabel);
    await driver().send(all);
    await driver().send(all); // a second re-send (a retried job) changes nothing
    const exps = server.experimentsByLabel("P1", all.experimentLabel);
    expect(exps).toHaveLength(1);
    expect(server.filesOf(exps[0]!)).toHaveLength(6);
    expect((await driver().verify(all)).ok).toBe(true);
  });

  it("a 5xx after XNAT stored the upload, and a dropped connection, are retried without a second experiment or doubled files", async () => {
    server.inject({ method: "POST", path: "/data/services/import", kind: "status", status: 502, phase: "after" });
    const a = studyOf(CT_STUDY, "SUBJ-0003", "s3");
    await driver().send(a);
    server.inject({ method: "POST", path: "/data/services/import", kind: "drop", phase: "after" });
    const b = studyOf(MR_STUDY, "SUBJ-0004", "s4");
    await driver().send(b);
    for (const s of [a, b]) {
      const exps = server.experimentsByLabel("P1", s.experimentLabel);
      expect(exps).toHaveLength(1);
      expect(server.filesOf(exps[0]!)).toHaveLength(s.instances.length);
      expect((await driver().verify(s)).ok).toBe(true);
    }
  });

  it("verification says what differs when XNAT holds less than was sent", async () => {
    const sent = studyOf(MR_STUDY.slice(0, 2), "SUBJ-0005", "s5");
    await driver().send(sent);
    const claimed = studyOf(MR_STUDY.slice(0, 4), "SUBJ-0005", "s5");
    const v = await driver().verify(claimed);
    expect(v.ok).toBe(false);
    expect(v.found.files).toBe(2);
    expect(v.detail).toMatch(/files: XNAT has 2, expected 4/);
    const missing = await driver().verify(studyOf(CT_STUDY, "SUBJ-0099", "s99"));
    expect(missing.ok).toBe(false);
    expect(missing.detail).toMatch(/not found/);
  });

  it("failures say what to fix: a wrong password, a collaborator account, an unreachable XNAT", async () => {
    const study = studyOf(CT_STUDY, "SUBJ-0006", "s6");
    await expect(new XnatArchiveDriver({ ...target(), credentials: { username: "alice", password: "wrong" } }, { client }).send(study)).rejects.toThrow(
      /refused the login of user alice.*Archive settings/,
    );
    await expect(driver(BOB).send(study)).rejects.toThrow(/Member/);
    await expect(new XnatArchiveDriver({ ...target(), url: "http://127.0.0.1:9" }, { client }).send(study)).rejects.toThrow(/could not be reached/);
    expect(JSON.stringify(server.requests)).not.toContain("alice-secret-77");
  });

  it("alias tokens are used as credentials when the user is UUID-shaped", () => {
    expect(credentialsFor("0b5b7a4e-1111-2222-3333-444455556666", "s")).toEqual({ alias: "0b5b7a4e-1111-2222-3333-444455556666", secret: "s" });
    expect(credentialsFor("alice", "pw")).toEqual({ username: "alice", password: "pw" });
  });
});

describe("testing the connection", () => {
  it("reports the XNAT version and the account's role in the project", async () => {
    const r = await testXnatConnection(target(), client);
    expect(r).toMatchObject({ ok: true, version: "1.8.10", login: "alice", role: "owner" });
    const member = await testXnatConnection(target(ALICE, "P2"), client);
    expect(member).toMatchObject({ ok: true, role: "member" });
  });

  it("says what to fix otherwise", async () => {
    expect(await testXnatConnection(target(BOB), client)).toMatchObject({ ok: false, role: "collaborator", message: expect.stringMatching(/Collaborator.*Member/) });
    expect(await testXnatConnection(target(CAROL), client)).toMatchObject({ ok: false, role: null, message: expect.stringMatching(/does not exist|no role/) });
    expect(await testXnatConnection(target(ALICE, "NOPE"), client)).toMatchObject({ ok: false, message: expect.stringMatching(/project id/) });
    expect(await testXnatConnection({ ...target(), credentials: { username: "alice", password: "nope" } }, client)).toMatchObject({
      ok: false,
      message: expect.stringMatching(/refused the login/),
    });
    expect(await testXnatConnection({ ...target(), url: "http://127.0.0.1:9" }, client)).toMatchObject({ ok: false, message: expect.stringMatching(/Nothing answered/) });
  });
});
