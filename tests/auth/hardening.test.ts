// Identity and sessions hardening (issue 17 §6), without a browser: who may read /metrics, what the
// health endpoint tells the world, sealed secrets bound to their row, site admin grants bound to the
// IdP subject, the IdP's claims that are believed, callback paths, cookie names and forwarded hosts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createCipheriv, randomBytes } from "node:crypto";
import { createTestDatabase, databaseUrl } from "../helpers/pg";
import { ADMIN_EMAIL, createPeople, createProjectFixture, type People } from "../helpers/fixtures";
import { openDb, setDbHandle } from "@/server/db";
import { createSession, SECURE_SESSION_COOKIE, SESSION_COOKIE, sessionUserFromToken, sessionUserFromHeaders } from "@/server/auth/session";
import { openSecret, resealLegacySecrets, sealSecret } from "@/server/secrets";
import { deriveKey } from "@/lib/crypto/secret-box";
import { safeCallbackPath, safeAuthRedirect } from "@/lib/auth/redirect";
import { refuseOidcProfile, oidcProvider } from "@/server/auth/options";
import { readEnv } from "@/lib/config";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
const savedEnv = { ...process.env };

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  setDbHandle(Promise.resolve(db.handle));
});
afterEach(() => {
  for (const k of ["ATRIUM_METRICS_TOKEN", "ATRIUM_TRUST_PROXY", "NEXTAUTH_URL"]) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});
afterAll(async () => {
  setDbHandle(undefined);
  await db?.drop();
  const { closeQueues } = await import("@/server/queues");
  await closeQueues();
  await (await import("@/server/redis")).closeSharedRedis();
});

const cookieOf = async (userId: string, name = SESSION_COOKIE) => `${name}=${(await createSession(db.prisma, userId)).token}`;

describe("GET /metrics", () => {
  const get = async (headers: Record<string, string>) => {
    const { GET } = await import("@/app/metrics/route");
    const r = await GET(new Request("http://atrium.test/metrics", { headers }));
    return { status: r.status, text: await r.text() };
  };

  it("serves a scraper with the bearer ATRIUM_METRICS_TOKEN, refuses a wrong one and anonymous callers", async () => {
    process.env.ATRIUM_METRICS_TOKEN = "metrics-token-0123456789";
    const ok = await get({ authorization: "Bearer metrics-token-0123456789" });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain("atrium_queue_jobs");
    const wrong = await get({ authorization: "Bearer metrics-token-012345678X" });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain("ATRIUM_METRICS_TOKEN");
    expect(wrong.text).not.toContain("atrium_process");
    const anon = await get({});
    expect(anon.status).toBe(401);
    expect(JSON.parse(anon.text).error).toMatch(/ATRIUM_METRICS_TOKEN.*site administrator/);
  });

  it("without a token configured, a bearer token is refused; a site admin's session may read, other users may not", async () => {
    delete process.env.ATRIUM_METRICS_TOKEN;
    expect((await get({ authorization: "Bearer " })).status).toBe(401);
    expect((await get({ authorization: "Bearer anything" })).status).toBe(401);
    expect((await get({ cookie: await cookieOf(people.users.siteAdmin.id) })).status).toBe(200);
    const member = await get({ cookie: await cookieOf(people.users.owner.id) });
    expect(member.status).toBe(403);
    expect(member.text).not.toContain("atrium_process");
  });
});

describe("GET /api/health", () => {
  it("says the database is unreachable without the driver's message (no database, host or user names)", async () => {
    const missing = `atrium_no_such_db_${randomBytes(3).toString("hex")}`;
    const broken = await openDb(databaseUrl(missing));
    setDbHandle(Promise.resolve(broken));
    try {
      const { GET } = await import("@/app/api/health/route");
      const res = await GET();
      const text = await res.text();
      expect(res.status).toBe(503);
      const body = JSON.parse(text) as { database: { ok: boolean; detail: string } };
      expect(body.database.ok).toBe(false);
      expect(body.database.detail).toMatch(/unreachable/);
      expect(text).not.toContain(missing);
      expect(text).not.toMatch(/does not exist|postgres|127\.0\.0\.1|5432/i);
    } finally {
      setDbHandle(Promise.resolve(db.handle));
      await broken.close();
    }
  });
});

describe("sealed secrets are bound to their row", () => {
  /** A value sealed the way Atrium did before binding (v1: AES-256-GCM without AAD). */
  function sealV1(plaintext: string): string {
    const key = deriveKey(readEnv().ATRIUM_SECRET_KEY!);
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", key, iv);
    const body = Buffer.concat([c.update(plaintext, "utf8"), c.final()]);
    return ["v1", iv.toString("base64url"), c.getAuthTag().toString("base64url"), body.toString("base64url")].join(".");
  }

  it("a webhook secret copied to another source does not open there (its webhook is refused), an XNAT password copied to another project neither", async () => {
    const a = await createProjectFixture(db.prisma, people, "SEAL_A", "private");
    const b = await createProjectFixture(db.prisma, people, "SEAL_B", "private");
    const srcA = await db.prisma.webhookSource.findUniqueOrThrow({ where: { id: a.webhookSourceId } });
    // Someone with write access to the database copies A's sealed secret into B.
    await db.prisma.webhookSource.update({ where: { id: b.webhookSourceId }, data: { secretSealed: srcA.secretSealed } });
    expect(openSecret(srcA.secretSealed, { table: "WebhookSource", id: a.webhookSourceId, field: "secretSealed" })).toBe("fixture-secret");
    expect(() => openSecret(srcA.secretSealed, { table: "WebhookSource", id: b.webhookSourceId, field: "secretSealed" })).toThrow(/cannot be decrypted/);
    const { acceptWebhook } = await import("@/server/webhooks/accept");
    const answer = await acceptWebhook(db.prisma, b.webhookSourceId, new Request("http://atrium.test/x", { method: "POST", body: "{}" }));
    expect(answer.status).toBe(500);

    const pw = sealSecret("xnat-pw", { table: "ProjectArchiveTarget", id: a.projectId, field: "xnatSecretSealed" });
    const { xnatTargetOf } = await import("@/server/archive/drivers");
    const target = { projectId: b.projectId, kind: "xnat" as const, xnatUrl: "https://xnat.example.org", xnatProject: "P", xnatUser: "u", xnatSecretSealed: pw, updatedAt: new Date() };
    expect(() => xnatTargetOf(target)).toThrow(/cannot be decrypted/);
    expect(xnatTargetOf({ ...target, projectId: a.projectId }).credentials).toBeTruthy();
  });

  it("values sealed before binding (v1) are re-sealed for their row when Atrium starts, and keep working", async () => {
    const f = await createProjectFixture(db.prisma, people, "SEAL_OLD", "private");
    await db.prisma.webhookSource.update({ where: { id: f.webhookSourceId }, data: { secretSealed: sealV1("old-hmac"), nodeAuth: "basic", nodeUser: "orthanc", nodeSecretSealed: sealV1("old-node-pw") } });
    await db.prisma.projectArchiveTarget.create({ data: { projectId: f.projectId, kind: "xnat", xnatUrl: "https://xnat.example.org", xnatProject: "P", xnatUser: "u", xnatSecretSealed: sealV1("old-xnat-pw") } });
    expect(await resealLegacySecrets(db.prisma)).toBeGreaterThanOrEqual(3);
    const src = await db.prisma.webhookSource.findUniqueOrThrow({ where: { id: f.webhookSourceId } });
    const tgt = await db.prisma.projectArchiveTarget.findUniqueOrThrow({ where: { projectId: f.projectId } });
    for (const v of [src.secretSealed, src.nodeSecretSealed!, tgt.xnatSecretSealed!]) expect(v.startsWith("v2.")).toBe(true);
    expect(openSecret(src.secretSealed, { table: "WebhookSource", id: src.id, field: "secretSealed" })).toBe("old-hmac");
    expect(openSecret(src.nodeSecretSealed!, { table: "WebhookSource", id: src.id, field: "nodeSecretSealed" })).toBe("old-node-pw");
    expect(openSecret(tgt.xnatSecretSealed!, { table: "ProjectArchiveTarget", id: f.projectId, field: "xnatSecretSealed" })).toBe("old-xnat-pw");
    // Now bound: the node password does not open as the HMAC secret of the same row.
    expect(() => openSecret(src.nodeSecretSealed!, { table: "WebhookSource", id: src.id, field: "secretSealed" })).toThrow();
    expect(await resealLegacySecrets(db.prisma), "idempotent").toBe(0);
  });
});

describe("site admins (ATRIUM_ADMINS) are bound to the IdP subject first seen", () => {
  it("a later account with the admin's e-mail but another subject is not an admin", async () => {
    const email = ADMIN_EMAIL.replace("admin@", "Admin@"); // case does not matter
    // The fixture's admin (no IdP account: the development sign-in) was bound when its session resolved.
    await db.prisma.siteAdminBinding.deleteMany({});
    const first = await db.prisma.user.update({ where: { id: people.users.siteAdmin.id }, data: { email: email.toLowerCase() } });
    await db.prisma.account.create({ data: { userId: first.id, type: "oauth", provider: "oidc", providerAccountId: "subject-of-the-real-admin" } });
    const s1 = await createSession(db.prisma, first.id);
    expect((await sessionUserFromToken(db.prisma, s1.token))?.siteAdmin).toBe(true);
    expect(await db.prisma.siteAdminBinding.findUnique({ where: { email: ADMIN_EMAIL } })).toMatchObject({ userId: first.id, provider: "oidc", subject: "subject-of-the-real-admin" });

    // The first account goes away (or its e-mail is re-used at the IdP): a new subject with the same e-mail.
    await db.prisma.user.update({ where: { id: first.id }, data: { email: "former-admin@atrium.test" } });
    const other = await db.prisma.user.create({ data: { email: ADMIN_EMAIL, name: "Impostor" } });
    await db.prisma.account.create({ data: { userId: other.id, type: "oauth", provider: "oidc", providerAccountId: "another-subject" } });
    const s2 = await createSession(db.prisma, other.id);
    expect((await sessionUserFromToken(db.prisma, s2.token))?.siteAdmin).toBe(false);
    const { appRouter } = await import("@/server/routers");
    const { createCallerFactory } = await import("@/server/trpc/init");
    const asOther = createCallerFactory(appRouter)({ prisma: db.prisma, user: await sessionUserFromToken(db.prisma, s2.token) });
    await expect(asOther.admin.users()).rejects.toThrow(/site administrators/);
    // And the site admin list says who is admin.
    await db.prisma.user.update({ where: { id: first.id }, data: { email: ADMIN_EMAIL.replace("@", "+x@") } });
    await db.prisma.user.delete({ where: { id: other.id } });
    await db.prisma.user.update({ where: { id: first.id }, data: { email: ADMIN_EMAIL } });
    const asFirst = createCallerFactory(appRouter)({ prisma: db.prisma, user: await sessionUserFromToken(db.prisma, s1.token) });
    expect((await asFirst.admin.users()).filter((u) => u.siteAdmin).map((u) => u.id)).toEqual([first.id]);
  });

  it("a grant first seen through the development sign-in (no subject) stays with that user and takes its subject at its first SSO sign-in", async () => {
    const email = "dev-admin@atrium.test";
    process.env.ATRIUM_ADMINS = `${ADMIN_EMAIL},${email}`;
    try {
      const dev = await db.prisma.user.create({ data: { email } });
      expect((await sessionUserFromToken(db.prisma, (await createSession(db.prisma, dev.id)).token))?.siteAdmin).toBe(true);
      expect(await db.prisma.siteAdminBinding.findUnique({ where: { email } })).toMatchObject({ userId: dev.id, subject: null });
      await db.prisma.account.create({ data: { userId: dev.id, type: "oauth", provider: "oidc", providerAccountId: "dev-admin-sub" } });
      expect((await sessionUserFromToken(db.prisma, (await createSession(db.prisma, dev.id)).token))?.siteAdmin).toBe(true);
      expect(await db.prisma.siteAdminBinding.findUnique({ where: { email } })).toMatchObject({ userId: dev.id, provider: "oidc", subject: "dev-admin-sub" });
      // Another user with that e-mail (the first renamed away) is not admin.
      await db.prisma.user.update({ where: { id: dev.id }, data: { email: "renamed@atrium.test" } });
      const later = await db.prisma.user.create({ data: { email } });
      expect((await sessionUserFromToken(db.prisma, (await createSession(db.prisma, later.id)).token))?.siteAdmin).toBe(false);
    } finally {
      process.env.ATRIUM_ADMINS = ADMIN_EMAIL;
    }
  });
});

describe("a site admin's first page", () => {
  it("binds the grant once when its first requests arrive together (no unique-constraint error)", async () => {
    const email = "racing-admin@atrium.test";
    process.env.ATRIUM_ADMINS = `${ADMIN_EMAIL},${email}`;
    try {
      const user = await db.prisma.user.create({ data: { email } });
      const token = (await createSession(db.prisma, user.id)).token;
      const seen = await Promise.all(Array.from({ length: 12 }, () => sessionUserFromToken(db.prisma, token)));
      expect(seen.map((u) => u?.siteAdmin)).toEqual(seen.map(() => true));
      expect(await db.prisma.siteAdminBinding.findMany({ where: { email } })).toMatchObject([{ userId: user.id, subject: null }]);
    } finally {
      process.env.ATRIUM_ADMINS = ADMIN_EMAIL;
    }
  });
});

describe("what the IdP says that Atrium believes", () => {
  it("needs an e-mail claim the IdP marks verified; preferred_username is never taken as the e-mail", () => {
    expect(refuseOidcProfile({ sub: "a", email: "a@x.org", email_verified: true })).toBeNull();
    expect(refuseOidcProfile({ sub: "a", email: "a@x.org", email_verified: "true" })).toBeNull();
    expect(refuseOidcProfile({ sub: "a", email: "a@x.org", email_verified: false })).toBe("EmailNotVerified");
    expect(refuseOidcProfile({ sub: "a", email: "a@x.org" })).toBe("EmailNotVerified");
    expect(refuseOidcProfile({ sub: "a", preferred_username: "boss@x.org", email_verified: true })).toBe("EmailMissing");
    const env = readEnv({ ATRIUM_OIDC_ISSUER: "https://idp.example.org", ATRIUM_OIDC_CLIENT_ID: "c", ATRIUM_OIDC_CLIENT_SECRET: "s" });
    const provider = oidcProvider(env);
    expect(provider.allowDangerousEmailAccountLinking ?? false).toBe(false);
    expect(provider.profile!({ sub: "u1", preferred_username: "boss@x.org" }, {} as never)).toMatchObject({ id: "u1", email: null });
  });
});

describe("callback paths after signing in", () => {
  it("keeps same-origin paths and sends everything else to /projects", () => {
    expect(safeCallbackPath("/projects/DEMO?tab=intake#x")).toBe("/projects/DEMO?tab=intake#x");
    for (const evil of ["//evil.example", "//evil.example/projects", "/\\evil.example", "/\\/evil.example", "\\\\evil.example", "https://evil.example", "javascript:alert(1)", "/\t/evil.example", " //evil.example", "", undefined]) {
      expect(safeCallbackPath(evil), String(evil)).toBe("/projects");
    }
    expect(safeCallbackPath("http://localhost:3000/projects/A?x=1", undefined, "http://localhost:3000")).toBe("/projects/A?x=1");
    expect(safeCallbackPath("http://evil.example/projects/A", undefined, "http://localhost:3000")).toBe("/projects");
    expect(safeCallbackPath("http://localhost:3000//evil.example", undefined, "http://localhost:3000")).toBe("/projects");
    expect(safeAuthRedirect("https://evil.example/x", "http://localhost:3000")).toBe("http://localhost:3000/projects");
    expect(safeAuthRedirect("//evil.example", "http://localhost:3000")).toBe("http://localhost:3000/projects");
    expect(safeAuthRedirect("http://localhost:3000/projects/A", "http://localhost:3000")).toBe("http://localhost:3000/projects/A");
    expect(safeAuthRedirect("/projects/A", "http://localhost:3000")).toBe("http://localhost:3000/projects/A");
  });
});

describe("the session cookie", () => {
  const signIn = async () => {
    const { POST } = await import("@/app/api/dev-signin/route");
    const r = await POST(new Request("http://localhost:3000/api/dev-signin", {
      method: "POST",
      headers: { "content-type": "application/json", host: "localhost:3000" },
      body: JSON.stringify({ email: "cookie@atrium.test", callbackUrl: "//evil.example" }),
    }));
    return { location: r.headers.get("location"), cookie: r.headers.get("set-cookie")! };
  };

  it("over http: the plain name without Secure, and a __Secure- cookie is not a session", async () => {
    process.env.NEXTAUTH_URL = "http://localhost:3000";
    const { cookie, location } = await signIn();
    expect(location).toBe("/projects");
    expect(cookie).toMatch(/^next-auth\.session-token=[0-9a-f]{64};/);
    expect(cookie).not.toMatch(/Secure/);
    const token = cookie.split(";")[0]!.split("=")[1]!;
    expect(await sessionUserFromHeaders(db.prisma, new Headers({ cookie: `${SESSION_COOKIE}=${token}` }))).not.toBeNull();
    expect(await sessionUserFromHeaders(db.prisma, new Headers({ cookie: `${SECURE_SESSION_COOKIE}=${token}` }))).toBeNull();
  });

  it("is not set for a post from another origin, or from an opaque one (Origin: null)", async () => {
    const { POST } = await import("@/app/api/dev-signin/route");
    for (const origin of ["http://evil.example", "null"]) {
      const r = await POST(new Request("http://localhost:3000/api/dev-signin", {
        method: "POST",
        headers: { "content-type": "application/json", host: "localhost:3000", origin },
        body: JSON.stringify({ email: "cookie@atrium.test" }),
      }));
      expect(r.status, origin).toBe(403);
      expect(r.headers.get("set-cookie")).toBeNull();
    }
  });

  it("over https: __Secure- with the Secure flag, and only that name counts", async () => {
    process.env.NEXTAUTH_URL = "https://atrium.example.org";
    const { cookie } = await signIn();
    expect(cookie).toMatch(/^__Secure-next-auth\.session-token=[0-9a-f]{64};.*\bSecure;/);
    const token = cookie.split(";")[0]!.split("=")[1]!;
    expect(await sessionUserFromHeaders(db.prisma, new Headers({ cookie: `${SECURE_SESSION_COOKIE}=${token}` }))).not.toBeNull();
    expect(await sessionUserFromHeaders(db.prisma, new Headers({ cookie: `${SESSION_COOKIE}=${token}` }))).toBeNull();
  });
});

describe("X-Forwarded-Host and X-Forwarded-Proto", () => {
  const forwarded = () =>
    new Request("http://atrium.internal:3000/dicomweb/projects/P/studies", { headers: { host: "portal.example.org", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" } });

  it("are ignored unless ATRIUM_TRUST_PROXY says a proxy sets them (the Host the client used counts)", async () => {
    const { rootUrl } = await import("@/server/dicomweb/read");
    delete process.env.ATRIUM_TRUST_PROXY;
    expect(rootUrl(forwarded(), "P")).toBe("http://portal.example.org/dicomweb/projects/P");
    process.env.ATRIUM_TRUST_PROXY = "1";
    expect(rootUrl(forwarded(), "P")).toBe("https://evil.example/dicomweb/projects/P");
    const junk = new Request("http://atrium.internal:3000/x", { headers: { "x-forwarded-host": "a.example/path?x", "x-forwarded-proto": "gopher" } });
    expect(rootUrl(junk, "P")).toBe("http://atrium.internal:3000/dicomweb/projects/P");
  });
});
