// Authentication against the test XNAT over real HTTP: sessions, tokens, re-login, logout, CSRF.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { XnatClient, XnatError } from "@/lib/xnat";
import { ADMIN, ALICE, connect, fastRetry, startServer } from "./helpers";
import type { XnatTestServer } from "./server";

let server: XnatTestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});

function leaks(err: unknown, secret: string): boolean {
  const e = err as Error;
  const all = [e.message, e.stack ?? "", JSON.stringify(e), String(e)].join("\n");
  return all.includes(secret) || all.includes(Buffer.from(`alice:${secret}`).toString("base64"));
}

describe("user and password", () => {
  test("one JSESSION serves every call, by cookie, and close() logs out", async () => {
    const before = server.requests.length;
    const created = server.stats.sessionsCreated;
    const c = await connect(server);
    expect(c.transport.sessionId).toMatch(/^[0-9A-F]{32}$/);
    expect(await c.whoami()).toBe("alice");
    await c.listProjects();
    expect((await c.buildInfo()).version).toBe("1.8.10");
    const mine = server.requests.slice(before);
    expect(mine.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /data/JSESSION",
      "GET /data/auth",
      "GET /data/projects",
      "GET /xapi/siteConfig/buildInfo",
    ]);
    expect(mine[0]!.auth).toBe("basic");
    expect(mine.slice(1).every((r) => r.auth === "session" && r.user === "alice")).toBe(true);
    expect(server.stats.sessionsCreated - created).toBe(1);

    const id = c.transport.sessionId!;
    expect(server.sessions.has(id)).toBe(true);
    await c.close();
    expect(server.sessions.has(id)).toBe(false);
    expect(server.callsTo("DELETE", /^\/data\/JSESSION\/?$/).length).toBeGreaterThan(0);
    await expect(c.listProjects()).rejects.toMatchObject({ kind: "usage" });
    await c.close(); // twice is harmless
  });

  test("a wrong password is a clear auth error without the password in it", async () => {
    const err = await XnatClient.connect({ url: server.url, username: "alice", password: "wrong-password-123", retry: fastRetry, heartbeat: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XnatError);
    const e = err as XnatError;
    expect(e.kind).toBe("auth");
    expect(e.status).toBe(401);
    expect(e.method).toBe("POST");
    expect(e.path).toBe("/data/JSESSION");
    expect(e.message).toMatch(/refused the user name or password/);
    expect(leaks(e, "wrong-password-123")).toBe(false);
    expect(e.retryable).toBe(false);
  });

  test("credentials inside the URL are refused", () => {
    expect(() => new XnatClient(server.url.replace("http://", "http://alice:pw@"), { username: "a", password: "b" })).toThrow(/not inside the XNAT URL/);
  });

  test("an expired session is re-opened once, transparently", async () => {
    const c = await connect(server);
    const first = c.transport.sessionId;
    server.expireSessions();
    const projects = await c.listProjects();
    expect(projects.map((p) => p.ID)).toContain("P1");
    expect(c.transport.sessionId).not.toBe(first);
    expect(c.transport.stats).toMatchObject({ logins: 2, reauths: 1 });
    await c.close();
  });

  test("concurrent calls that meet an expired session share one re-login", async () => {
    const c = await connect(server);
    server.expireSessions();
    const logins = server.callsTo("POST", "/data/JSESSION").length;
    await Promise.all([c.listProjects(), c.whoami(), c.getProject("P1"), c.listSubjects("P1")]);
    expect(server.callsTo("POST", "/data/JSESSION").length - logins).toBe(1);
    expect(c.transport.stats.logins).toBe(2);
    await c.close();
  });

  test("a password changed after login ends in an auth error, not a loop", async () => {
    server.addUser({ login: "dave", password: "dave-old-pw" });
    const c = await XnatClient.connect({ url: server.url, username: "dave", password: "dave-old-pw", retry: fastRetry, heartbeat: false });
    server.addUser({ login: "dave", password: "dave-new-pw" });
    server.expireSessions();
    const before = server.requests.length;
    const err = (await c.whoami().catch((e: unknown) => e)) as XnatError;
    expect(err.kind).toBe("auth");
    expect(leaks(err, "dave-old-pw")).toBe(false);
    // one refused call, one refused re-login, nothing more
    expect(server.requests.slice(before).map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(["GET /data/auth 401", "POST /data/JSESSION 401"]);
  });
});

describe("session upkeep", () => {
  test("the heartbeat keeps a short session alive across idle time, and stops at close()", async () => {
    const short = await startServer({ sessionTimeoutMs: 300 });
    try {
      const c = await connect(short, ALICE, { heartbeat: true, heartbeatIntervalMs: 100 });
      await new Promise((r) => setTimeout(r, 700)); // idle for more than twice the session timeout
      const beats = short.callsTo("GET", "/data/JSESSION").length;
      expect(beats).toBeGreaterThanOrEqual(4);
      expect(await c.whoami()).toBe("alice");
      expect(c.transport.stats.reauths).toBe(0);
      await c.close();
      const atClose = short.callsTo("GET", "/data/JSESSION").length;
      await new Promise((r) => setTimeout(r, 250));
      expect(short.callsTo("GET", "/data/JSESSION").length).toBe(atClose);
    } finally {
      await short.close();
    }
  });

  test("without a heartbeat the same idle time costs one re-login", async () => {
    const short = await startServer({ sessionTimeoutMs: 300 });
    try {
      const c = await connect(short, ALICE);
      await new Promise((r) => setTimeout(r, 450));
      expect(await c.whoami()).toBe("alice");
      expect(c.transport.stats.reauths).toBe(1);
      await c.close();
    } finally {
      await short.close();
    }
  });
});

describe("the test server's other login paths (as xnatpy uses them)", () => {
  test("PUT /data/services/auth, Basic on every call opens a session each time, GET /data/version is 404", async () => {
    const ok = await fetch(`${server.url}/data/services/auth`, { method: "PUT", body: new URLSearchParams({ username: "alice", password: ALICE.password }) });
    expect(ok.status).toBe(200);
    const id = (await ok.text()).trim();
    expect(id).toMatch(/^[0-9A-F]{32}$/);
    expect(ok.headers.getSetCookie().some((c) => c.startsWith(`JSESSIONID=${id}`))).toBe(true);
    expect(ok.headers.getSetCookie().some((c) => /^SESSION_EXPIRATION_TIME="\d+,\d+"/.test(c))).toBe(true);
    const bad = await fetch(`${server.url}/data/services/auth`, { method: "PUT", body: new URLSearchParams({ username: "alice", password: "nope" }) });
    expect(bad.status).toBe(401);
    expect(await bad.text()).toContain("Login attempt failed. Please try again.");

    const basic = { Authorization: `Basic ${Buffer.from(`alice:${ALICE.password}`).toString("base64")}` };
    const before = server.stats.sessionsCreated;
    for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/data/auth`, { headers: basic })).status).toBe(200);
    expect(server.stats.sessionsCreated - before).toBe(3);
    expect((await fetch(`${server.url}/data/version`, { headers: basic })).status).toBe(404);
    const anon = await fetch(`${server.url}/data/projects?format=json`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get("www-authenticate")).toMatch(/^Basic/);
  });
});

describe("alias tokens", () => {
  test("a token issued to alice logs in as alice, and stops working once invalidated", async () => {
    const c = await connect(server);
    const token = await c.issueToken();
    expect(token.xdatUserId).toBe("alice");
    expect(token.estimatedExpirationTime).toBeGreaterThan(Date.now() + 47 * 3600_000);
    const t = await XnatClient.connect({ url: server.url, alias: token.alias, secret: token.secret, retry: fastRetry, heartbeat: false });
    expect(await t.whoami()).toBe("alice");
    await t.close();
    await fetch(`${server.url}/data/services/tokens/invalidate/${token.alias}/${token.secret}`, { headers: { Cookie: `JSESSIONID=${c.transport.sessionId}` } });
    const err = (await XnatClient.connect({ url: server.url, alias: token.alias, secret: token.secret, retry: fastRetry, heartbeat: false }).catch((e: unknown) => e)) as XnatError;
    expect(err.kind).toBe("auth");
    expect(err.message).toMatch(/alias token/);
    expect(err.message).not.toContain(token.secret);
    expect(err.message).not.toContain(token.alias);
    await c.close();
  });
});

describe("token administration", () => {
  test("validate answers the user; only an admin issues tokens for someone else", async () => {
    const c = await connect(server);
    const t = await c.issueToken();
    const headers = { Cookie: `JSESSIONID=${c.transport.sessionId}` };
    expect(await (await fetch(`${server.url}/data/services/tokens/validate/${t.alias}/${t.secret}`, { headers })).json()).toEqual({ valid: "alice" });
    expect(await (await fetch(`${server.url}/data/services/tokens/validate/${t.alias}/wrong`, { headers })).json()).toEqual({});
    expect((await fetch(`${server.url}/data/services/tokens/issue/user/bob`, { headers })).status).toBe(403);
    const admin = await connect(server, ADMIN);
    const forBob = await (await fetch(`${server.url}/data/services/tokens/issue/user/bob`, { headers: { Cookie: `JSESSIONID=${admin.transport.sessionId}` } })).json();
    expect(forBob.xdatUserId).toBe("bob");
    const asBob = await XnatClient.connect({ url: server.url, alias: forBob.alias, secret: forBob.secret, retry: fastRetry, heartbeat: false });
    expect(await asBob.whoami()).toBe("bob");
    await Promise.all([asBob.close(), admin.close(), c.close()]);
  });
});

describe("CSRF", () => {
  test("a site that enforces XNAT_CSRF is handled: the token is fetched after the first refusal", async () => {
    const strict = await startServer({ requireCsrf: true });
    try {
      const c = await connect(strict);
      const r = await c.putSubject("P1", "S_CSRF");
      expect(r.created).toBe(true);
      const refused = strict.requests.filter((x) => x.status === 403);
      expect(refused).toHaveLength(1);
      const accepted = strict.callsTo("PUT", "/data/projects/P1/subjects/S_CSRF").filter((x) => x.status === 201);
      expect(accepted[0]!.query.XNAT_CSRF).toBeTruthy();
      expect((await c.putSubject("P1", "S_CSRF2")).created).toBe(true);
      expect(strict.requests.filter((x) => x.status === 403)).toHaveLength(1);
      await c.close();
    } finally {
      await strict.close();
    }
  });
});

test("ALICE fixture is a member of P2 only (sanity of the fixtures used elsewhere)", async () => {
  const c = await connect(server, ALICE);
  expect(await c.myRole("P1")).toBe("owner");
  expect(await c.myRole("P2")).toBe("member");
  expect(await c.myRole("PUB")).toBeNull();
  await c.close();
});
