// Identity and sessions (issue 17 §6), end to end: `atrium start` as `npm start` runs it, Chromium,
// and a real OpenID Connect provider (oidc-provider).
// - the development sign-in is served on the loopback interface only (unless explicitly exposed),
//   and the start banner says which;
// - a signed-in user's /signin?callbackUrl=//evil.example stays on the site;
// - every page carries a Content Security Policy (nonce), frame-ancestors 'none', nosniff and a
//   Referrer-Policy, and the pages render and work in Chromium without a CSP violation;
// - SSO: an unverified e-mail, a missing e-mail (only preferred_username), and another subject with
//   an existing user's e-mail are refused; the site admin grant is bound to the first subject.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import net from "node:net";
import os from "node:os";
import { readFileSync } from "node:fs";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { freePort, startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import { startTestIdp, type TestIdp } from "../helpers/oidc-idp";

const shots = process.env.ATRIUM_SCREENSHOTS;
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** The machine's non-loopback IPv4 addresses (what another host on the network connects to). */
function networkAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfo => Boolean(a && a.family === "IPv4" && !a.internal))
    .map((a) => a.address);
}

/** Local addresses of the sockets listening on `port`, from /proc/net/tcp and tcp6 (hex as the kernel writes them). */
function listeningAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const out: string[] = [];
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(f, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== "0A") continue; // 0A: LISTEN
      const [addr, p] = cols[1]!.split(":");
      if (p === hexPort) out.push(addr!);
    }
  }
  return out;
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** Opens pages and records every CSP violation, console error and page error. */
async function watchedPage(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const problems: string[] = [];
  const page = await context.newPage();
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  page.on("console", (m) => {
    if (m.type() === "error" || /Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  return { page, problems };
}

describe("npm start with the development sign-in", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: AtriumProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_QUEUE_PREFIX: `atrium-identity-${process.pid}`, ATRIUM_ADMINS: "boss@institute.test", ATRIUM_METRICS_TOKEN: "scrape-token-0123456789" });
  }, 180_000);
  afterAll(async () => {
    await app?.stop();
    await db?.drop();
  });

  it("listens on the loopback interface only, and the start banner says so", async () => {
    expect(app.output()).toMatch(/development sign-in; listening on 127\.0\.0\.1 only/);
    const addrs = listeningAddresses(app.port);
    expect(addrs.length).toBeGreaterThan(0);
    // 0100007F: 127.0.0.1 (little-endian hex); anything else (00000000, ::) is reachable from the network.
    expect(addrs, "listening addresses of the portal's port").toEqual(addrs.map(() => "0100007F"));
    for (const ip of networkAddresses()) expect(await connects(ip, app.port), `reachable at ${ip}`).toBe(false);
    expect(await connects("127.0.0.1", app.port)).toBe(true);
  });

  it("sends a signed-in user only to a path of the site after /signin?callbackUrl=…", async () => {
    const res = await fetch(`${app.url}/api/dev-signin`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "email=ada%40institute.test&name=Ada",
    });
    const cookie = res.headers.get("set-cookie")!.split(";")[0]!;
    for (const evil of ["//evil.example", "//evil.example/projects", "/\\evil.example", "https://evil.example/"]) {
      const r = await fetch(`${app.url}/signin?callbackUrl=${encodeURIComponent(evil)}`, { headers: { cookie }, redirect: "manual" });
      expect(r.status, evil).toBe(307);
      expect(r.headers.get("location"), evil).toBe("/projects");
    }
    const ok = await fetch(`${app.url}/signin?callbackUrl=${encodeURIComponent("/projects/new")}`, { headers: { cookie }, redirect: "manual" });
    expect(ok.headers.get("location")).toBe("/projects/new");
  });

  it("answers with a Content Security Policy (a fresh nonce each time), frame-ancestors 'none', nosniff and a Referrer-Policy", async () => {
    const a = await fetch(`${app.url}/signin`);
    const b = await fetch(`${app.url}/signin`);
    const csp = a.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/default-src 'self'/);
    expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]{20,}'/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).toMatch(/object-src 'none'/);
    expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    expect(csp).not.toMatch(/'unsafe-eval'/);
    expect(b.headers.get("content-security-policy")).not.toBe(csp);
    expect(a.headers.get("x-content-type-options")).toBe("nosniff");
    expect(a.headers.get("referrer-policy")).toBe("same-origin");
    expect(a.headers.get("x-frame-options")).toBe("DENY");
    // Next.js put the nonce on its inline scripts.
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    const html = await a.text();
    const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)([^>]*)>/g)].map((m) => m[1]!);
    expect(inline.length).toBeGreaterThan(0);
    for (const attrs of inline) expect(attrs).toContain(`nonce="${nonce}"`);
    // API answers carry the headers too.
    const api = await fetch(`${app.url}/api/trpc/me.get`);
    expect(api.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
  });

  it("renders and works in Chromium with no CSP violation: sign-in, projects, a new project, its tabs", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const { page, problems } = await watchedPage(context);
    try {
      await page.goto(`${app.url}/projects`);
      await page.waitForURL(/\/signin/);
      await devSignIn(page, app.url, "boss@institute.test", "Boss");
      await page.getByRole("link", { name: "New project" }).click();
      await page.waitForURL(/\/projects\/new$/);
      await page.getByLabel("Project id").fill("CSP_CHECK");
      await page.getByLabel("Name").fill("CSP check");
      await page.getByRole("button", { name: "Create project" }).click();
      await page.waitForURL(/\/projects\/CSP_CHECK/);
      for (const tab of ["Overview", "Intake", "Upload", "Browse", "Quarantine", "Archive", "Members"]) {
        const t = page.getByRole("tab", { name: tab });
        if ((await t.count()) === 0) continue;
        await t.first().click();
        await page.waitForLoadState("networkidle");
      }
      // Client-side JavaScript runs (the menu opens): scripts were not blocked.
      await page.getByTestId("user-menu").click();
      await page.getByRole("menuitem", { name: "Sign out" }).waitFor();
      if (shots) await page.screenshot({ path: `${shots}/identity-csp-project.png`, fullPage: true });
      await page.goto(`${app.url}/admin/quarantine`);
      await page.waitForLoadState("networkidle");
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
    // Seven tabs walked to network idle: well over 30 s when the access matrix shares the two cores.
  }, 120_000);

  it("serves /metrics to the scraper's token only", async () => {
    expect((await fetch(`${app.url}/metrics`)).status).toBe(401);
    const ok = await fetch(`${app.url}/metrics`, { headers: { authorization: "Bearer scrape-token-0123456789" } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("atrium_http_requests");
  });
});

describe("npm start with ATRIUM_DEV_SIGNIN_EXPOSE=1", () => {
  it("serves the development sign-in on every interface, and the banner warns", async () => {
    const db = await createTestDatabase();
    const app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_QUEUE_PREFIX: `atrium-identity-x-${process.pid}`, ATRIUM_DEV_SIGNIN_EXPOSE: "1" });
    try {
      expect(app.output()).toMatch(/DEVELOPMENT sign-in, reachable from the network/);
      expect(listeningAddresses(app.port).some((a) => a !== "0100007F")).toBe(true);
      for (const ip of networkAddresses()) expect(await connects(ip, app.port), `reachable at ${ip}`).toBe(true);
    } finally {
      await app.stop();
      await db.drop();
    }
  }, 180_000);
});

describe("SSO: what the IdP says that Atrium believes", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let idp: TestIdp;
  let app: AtriumProcess;
  const boss = "boss@institute.test";

  beforeAll(async () => {
    db = await createTestDatabase();
    const [appPort, idpPort] = [await freePort(), await freePort()];
    idp = await startTestIdp(idpPort, `http://localhost:${appPort}/api/auth/callback/oidc`, (login) => {
      switch (login) {
        case "unverified":
          return { sub: login, email: boss, email_verified: false, name: "Unverified" };
        case "upn":
          return { sub: login, preferred_username: boss, name: "Only a UPN" };
        case "boss-twin":
          return { sub: login, email: boss, email_verified: true, name: "Another boss" };
        default:
          return undefined;
      }
    });
    app = await startAtrium({
      PORT: String(appPort),
      DATABASE_URL: db.url,
      ATRIUM_QUEUE_PREFIX: `atrium-identity-sso-${process.pid}`,
      ATRIUM_OIDC_ISSUER: idp.issuer,
      ATRIUM_OIDC_CLIENT_ID: idp.clientId,
      ATRIUM_OIDC_CLIENT_SECRET: idp.clientSecret,
      ATRIUM_OIDC_NAME: "Test IdP",
      ATRIUM_ADMINS: boss,
      NEXTAUTH_SECRET: "identity-test-secret-identity-test-0123",
    });
  }, 180_000);
  afterAll(async () => {
    await app?.stop();
    await idp?.close();
    await db?.drop();
  });

  /** Signs in at the IdP as `login` in a fresh browser; resolves with where the portal sends the browser and the API's me. */
  async function ssoSignIn(login: string) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const { page, problems } = await watchedPage(context);
    try {
      await page.goto(`${app.url}/signin`);
      await page.getByRole("button", { name: "Sign in with Test IdP" }).click();
      await page.waitForURL(new RegExp(`^${idp.issuer}/interaction/`));
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', "any-password");
      await page.click('button[type="submit"]');
      await page.waitForURL(new RegExp(`^${idp.issuer}/interaction/`));
      await page.click('button[type="submit"]'); // consent
      await page.waitForURL(new RegExp(`^${app.url}/`));
      await page.waitForLoadState("networkidle");
      const url = page.url();
      const me = (await page.evaluate(async () => (await fetch("/api/trpc/me.get")).json())) as { result: { data: { json: { email: string; siteAdmin: boolean } | null } } };
      const text = await page.locator("body").innerText();
      if (shots) await page.screenshot({ path: `${shots}/identity-sso-${login}.png` });
      return { url, me: me.result.data.json, text, problems: problems.filter((p) => /Content Security Policy|CSP violation/.test(p)) };
    } finally {
      await context.close();
    }
  }

  it("the first account with the admin e-mail (verified) is the site admin; its subject is bound", async () => {
    const r = await ssoSignIn("boss");
    expect(r.url).toBe(`${app.url}/projects`);
    expect(r.me).toMatchObject({ email: boss, siteAdmin: true });
    expect(r.problems).toEqual([]);
    expect(await db.prisma.siteAdminBinding.findUnique({ where: { email: boss } })).toMatchObject({ provider: "oidc", subject: "boss" });
  });

  it("refuses an e-mail the IdP does not call verified, before creating anything", async () => {
    const users = await db.prisma.user.count();
    const r = await ssoSignIn("unverified");
    expect(r.url).toMatch(/\/signin\?(.*&)?error=EmailNotVerified/);
    expect(r.me).toBeNull();
    expect(r.text).toContain("did not confirm that this e-mail address is yours");
    expect(await db.prisma.user.count()).toBe(users);
    expect(await db.prisma.account.count({ where: { providerAccountId: "unverified" } })).toBe(0);
  });

  it("does not take preferred_username as the e-mail", async () => {
    const r = await ssoSignIn("upn");
    expect(r.url).toMatch(/\/signin\?(.*&)?error=EmailMissing/);
    expect(r.me).toBeNull();
    expect(await db.prisma.account.count({ where: { providerAccountId: "upn" } })).toBe(0);
  });

  it("does not link another subject to the user holding its e-mail (no admin by e-mail)", async () => {
    const r = await ssoSignIn("boss-twin");
    expect(r.url).toMatch(/\/signin\?(.*&)?error=OAuthAccountNotLinked/);
    expect(r.me).toBeNull();
    expect(r.text).toContain("Another account already uses this e-mail address");
    expect(await db.prisma.account.count({ where: { providerAccountId: "boss-twin" } })).toBe(0);
    const bossUser = await db.prisma.user.findUniqueOrThrow({ where: { email: boss }, include: { accounts: true } });
    expect(bossUser.accounts.map((a) => a.providerAccountId)).toEqual(["boss"]);
  });
});
