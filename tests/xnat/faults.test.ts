// Failure injection over real HTTP: 5xx, hangs, dropped connections, slow answers, refused
// connections; retries with backoff; and idempotency: a retried upload whose first attempt was
// stored by XNAT never yields a second experiment or duplicated files.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { backoffDelay, type XnatClient, XnatError } from "@/lib/xnat";
import { ALICE, connect, CT_SINGLE, CT_STUDY, entries, MR_STUDY, startServer, totalBytes } from "./helpers";
import { startXnatTestServer, type XnatTestServer } from "./server";

let server: XnatTestServer;
let alice: XnatClient;
let delays: number[] = [];
const retry = { retries: 3, baseDelayMs: 10, maxDelayMs: 80, random: () => 0.5, sleep: async (ms: number) => void delays.push(ms) };

beforeAll(async () => {
  server = await startServer();
  alice = await connect(server, ALICE, { retry, timeoutMs: 2_000 });
});
afterAll(async () => {
  await alice.close();
  await server.close();
});
afterEach(() => {
  delays = [];
  server.faults.length = 0;
});

function noSecrets(err: unknown) {
  const e = err as Error;
  const text = [e.message, e.stack ?? "", JSON.stringify(e)].join("\n");
  expect(text).not.toContain(ALICE.password);
  expect(text).not.toContain(Buffer.from(`${ALICE.login}:${ALICE.password}`).toString("base64"));
  expect(text).not.toContain("?"); // no query strings in errors
}

describe("retries of ordinary calls", () => {
  test("503 twice, then success: three calls, growing backoff", async () => {
    server.inject({ method: "GET", path: "/data/projects", kind: "status", status: 503, times: 2 });
    const before = server.callsTo("GET", "/data/projects").length;
    expect((await alice.listProjects()).map((p) => p.ID)).toContain("P1");
    expect(server.callsTo("GET", "/data/projects").length - before).toBe(3);
    expect(delays).toEqual([backoffDelay(0, retry), backoffDelay(1, retry)]);
    expect(delays[1]!).toBeGreaterThan(delays[0]!);
  });

  test("5xx beyond the retry budget: typed, retryable error with the attempt count", async () => {
    server.inject({ method: "GET", path: /^\/data\/projects\/P1\/subjects$/, kind: "status", status: 500, times: 10 });
    const err = (await alice.listSubjects("P1").catch((e: unknown) => e)) as XnatError;
    expect(err).toBeInstanceOf(XnatError);
    expect(err).toMatchObject({ kind: "http", status: 500, method: "GET", path: "/data/projects/P1/subjects", attempts: 4 });
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^XNAT GET \/data\/projects\/P1\/subjects failed \(500\) after 4 attempts: .*internal error/);
    expect(delays).toHaveLength(3);
    noSecrets(err);
  });

  test("a dropped connection is retried", async () => {
    server.inject({ method: "GET", path: "/data/auth", kind: "drop" });
    expect(await alice.whoami()).toBe("alice");
    expect(delays).toHaveLength(1);
  });

  test("a hung call times out and is retried; a call that always hangs ends in a timeout error", async () => {
    const quick = await connect(server, ALICE, { retry, timeoutMs: 250 });
    server.inject({ method: "GET", path: "/xapi/siteConfig/buildInfo", kind: "hang" });
    const t0 = Date.now();
    expect((await quick.buildInfo()).version).toBe("1.8.10");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(240);
    server.inject({ method: "GET", path: "/xapi/siteConfig/buildInfo", kind: "hang", times: 10 });
    const err = (await quick.buildInfo().catch((e: unknown) => e)) as XnatError;
    expect(err).toMatchObject({ kind: "timeout", status: null, attempts: 4 });
    expect(err.message).toMatch(/no answer within 250 ms/);
    noSecrets(err);
    server.faults.length = 0;
    await quick.close();
  });

  test("a slow answer within the time limit is simply awaited", async () => {
    server.inject({ method: "GET", path: "/data/auth", kind: "slow", delayMs: 150 });
    expect(await alice.whoami()).toBe("alice");
    expect(delays).toEqual([]);
  });

  test("nothing listening: a network error after the retries", async () => {
    const gone = await startXnatTestServer();
    const url = gone.url;
    await gone.close();
    const err = (await connect({ url } as XnatTestServer, ALICE, { retry }).catch((e: unknown) => e)) as XnatError;
    expect(err).toMatchObject({ kind: "network", status: null, method: "POST", path: "/data/JSESSION", attempts: 4 });
    expect(err.message).toMatch(/ECONNREFUSED/);
    noSecrets(err);
  });

  test("a POST that is not idempotent is not blindly repeated", async () => {
    const r = await alice.importDicomZip({ project: "P1", subject: "F_S0", session: "F_S0_CT", destination: "prearchive", files: entries(CT_SINGLE) });
    server.inject({ method: "POST", path: "/data/services/prearchive/move", kind: "status", status: 503 });
    const before = server.callsTo("POST", "/data/services/prearchive/move").length;
    const err = (await alice.movePrearchiveSessions(r.prearchive!, "P2").catch((e: unknown) => e)) as XnatError;
    expect(err).toMatchObject({ kind: "http", status: 503, attempts: 1 });
    expect(server.callsTo("POST", "/data/services/prearchive/move").length - before).toBe(1);
  });
});

describe("idempotent uploads", () => {
  const importPath = "/data/services/import";

  async function expectOneCompleteExperiment(label: string, files: string[]) {
    const list = server.experimentsByLabel("P1", label);
    expect(list).toHaveLength(1);
    const stored = server.filesOf(list[0]!);
    expect(stored).toHaveLength(files.length);
    expect(new Set(stored.map((f) => f.name)).size).toBe(files.length);
    const v = await alice.verifyExperiment({ project: "P1", experiment: label }, { files: files.length, bytes: totalBytes(files) });
    expect(v.problems).toEqual([]);
  }

  for (const [what, fault] of [
    ["a 502 after XNAT stored the upload", { kind: "status", status: 502 }],
    ["a connection dropped after XNAT stored the upload", { kind: "drop" }],
  ] as const) {
    test(`${what}: the retry completes the same experiment, nothing doubled`, async () => {
      const label = `F_${fault.kind}_MR`;
      server.inject({ method: "POST", path: importPath, phase: "after", ...fault });
      const before = server.callsTo("POST", importPath).length;
      const r = await alice.importDicomZip({ project: "P1", subject: `F_${fault.kind}`, session: label, files: entries(MR_STUDY) });
      expect(r.attempts).toBe(2);
      expect(r.overwriteUsed).toBe("append");
      const calls = server.callsTo("POST", importPath).slice(before);
      expect(calls.map((c) => [c.status, c.query.overwrite])).toEqual([
        [fault.kind === "drop" ? "drop" : 502, "none"],
        [200, "append"],
      ]);
      await expectOneCompleteExperiment(label, MR_STUDY);
    });
  }

  test("an upload that hangs after being stored times out, and the retry does not duplicate", async () => {
    const quick = await connect(server, ALICE, { retry, timeoutMs: 5_000 });
    server.inject({ method: "POST", path: importPath, phase: "after", kind: "hang" });
    const r = await quick.importDicomZip({ project: "P1", subject: "F_HANG", session: "F_HANG_CT", files: entries(CT_STUDY), timeoutMs: 1_500 });
    expect(r.attempts).toBe(2);
    await expectOneCompleteExperiment("F_HANG_CT", CT_STUDY);
    await quick.close();
  });

  test("a 503 before anything was stored: retried, one experiment", async () => {
    server.inject({ method: "POST", path: importPath, kind: "status", status: 503, times: 2 });
    const r = await alice.importDicomZip({ project: "P1", subject: "F_503", session: "F_503_CT", files: entries(CT_STUDY) });
    expect(r.attempts).toBe(3);
    await expectOneCompleteExperiment("F_503_CT", CT_STUDY);
  });

  test("every attempt stored then failed: the error comes after the budget, still one experiment", async () => {
    server.inject({ method: "POST", path: importPath, phase: "after", kind: "status", status: 500, times: 10 });
    const err = (await alice.importDicomZip({ project: "P1", subject: "F_ALL", session: "F_ALL_MR", files: entries(MR_STUDY) }).catch((e: unknown) => e)) as XnatError;
    expect(err).toMatchObject({ kind: "http", status: 500, attempts: 4 });
    noSecrets(err);
    await expectOneCompleteExperiment("F_ALL_MR", MR_STUDY);
  });

  test("re-archiving new instances with append, with a lost answer, still merges exactly", async () => {
    await alice.importDicomZip({ project: "P1", subject: "F_RE", session: "F_RE_MR", files: entries(MR_STUDY.slice(0, 2)) });
    server.inject({ method: "POST", path: importPath, phase: "after", kind: "drop" });
    const r = await alice.importDicomZip({ project: "P1", subject: "F_RE", session: "F_RE_MR", files: entries(MR_STUDY), overwrite: "append" });
    expect(r.attempts).toBe(2);
    await expectOneCompleteExperiment("F_RE_MR", MR_STUDY);
  });

  test("to the prearchive: the session a failed attempt left behind is removed before resending", async () => {
    server.inject({ method: "POST", path: importPath, phase: "after", kind: "status", status: 500 });
    const r = await alice.importDicomZip({ project: "P1", subject: "F_PRE", session: "F_PRE_CT", destination: "prearchive", files: entries(CT_STUDY) });
    expect(r.attempts).toBe(2);
    const rows = (await alice.listPrearchive("P1")).filter((x) => x.name === "F_PRE_CT");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.timestamp).toBe(r.prearchive![0]!.timestamp);
  });

  test("a session that expired mid-way: the upload re-logs in once and is sent again", async () => {
    server.expireSessions();
    const logins = alice.transport.stats.logins;
    const r = await alice.importDicomZip({ project: "P1", subject: "F_401", session: "F_401_CT", files: entries(CT_STUDY) });
    expect(r.attempts).toBe(1);
    expect(alice.transport.stats.logins - logins).toBe(1);
    await expectOneCompleteExperiment("F_401_CT", CT_STUDY);
  });

  test("a file PUT whose answer was lost: the retry's duplicates answer is recognised as our own file", async () => {
    const res = { project: "P1", subject: "F_FILE", experiment: "F_FILE_MR", resource: "NOTES" };
    await alice.putExperiment(res, { xsiType: "xnat:mrSessionData" });
    server.inject({ method: "PUT", path: /\/files\/a\.txt$/, phase: "after", kind: "drop" });
    const r = await alice.uploadFile(res, "a.txt", new TextEncoder().encode("hello"));
    expect(r.id).toBe("a.txt");
    expect(server.callsTo("PUT", /\/files\/a\.txt$/).map((c) => c.status)).toEqual(["drop", 200]);
    expect((await alice.listFiles(res)).map((f) => [f.Name, f.Size])).toEqual([["a.txt", "5"]]);
  });

  test("archive and move of prearchive sessions survive a lost answer", async () => {
    const a = await alice.importDicomZip({ project: "P1", subject: "F_PA", session: "F_PA_CT", destination: "prearchive", files: entries(CT_STUDY) });
    server.inject({ method: "POST", path: "/data/services/archive", phase: "after", kind: "status", status: 502 });
    const uri = await alice.archivePrearchiveSession(a.prearchive![0]!);
    expect(uri.kind).toBe("archive");
    await expectOneCompleteExperiment("F_PA_CT", CT_STUDY);

    const b = await alice.importDicomZip({ project: "P1", subject: "F_PM", session: "F_PM_CT", destination: "prearchive", files: entries(CT_SINGLE) });
    server.inject({ method: "POST", path: /^\/data\/prearchive\/projects\/P1\//, phase: "after", kind: "drop" });
    const moved = await alice.movePrearchiveSession(b.prearchive![0]!, "P2");
    expect(moved).toEqual({ ...b.prearchive![0]!, project: "P2" });
    expect((await alice.listPrearchive("P2")).filter((x) => x.name === "F_PM_CT")).toHaveLength(1);
  });
});
