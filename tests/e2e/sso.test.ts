// Signing in with the institute's SSO, end to end in Chromium: a real OIDC provider, the portal as
// `npm start` runs it (on the test PostgreSQL), next-auth database sessions.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { freePort, startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { startTestIdp, type TestIdp } from "../helpers/oidc-idp";
import { launchChromium } from "../helpers/browser";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let idp: TestIdp;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
const shots = process.env.ATRIUM_SCREENSHOTS;

beforeAll(async () => {
  db = await createTestDatabase();
  const [appPort, idpPort] = [await freePort(), await freePort()];
  idp = await startTestIdp(idpPort, `http://localhost:${appPort}/api/auth/callback/oidc`);
  // An owner invited alice before she ever signed in.
  const owner = await db.prisma.user.create({ data: { email: "owner@institute.test", name: "Owner" } });
  await db.prisma.project.create({
    data: {
      id: "COHORT",
      idLower: "cohort",
      name: "Invited cohort",
      members: { create: { userId: owner.id, role: "owner" } },
      invitations: { create: { email: "alice@institute.test", role: "collaborator", invitedById: owner.id } },
    },
  });
  app = await startAtrium({
    PORT: String(appPort),
    DATABASE_URL: db.url,
    ATRIUM_QUEUE_PREFIX: `atrium-sso-${process.pid}`,
    ATRIUM_OIDC_ISSUER: idp.issuer,
    ATRIUM_OIDC_CLIENT_ID: idp.clientId,
    ATRIUM_OIDC_CLIENT_SECRET: idp.clientSecret,
    ATRIUM_OIDC_NAME: "Test IdP",
    NEXTAUTH_SECRET: "sso-test-secret-sso-test-secret-0123",
  });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await idp?.close();
  await db?.drop();
});

describe("SSO sign-in with OpenID Connect", () => {
  it("offers the institute's SSO and no development sign-in", async () => {
    await page.goto(`${app.url}/projects`);
    await page.waitForURL(/\/signin/);
    await expect(page.getByRole("button", { name: "Sign in with Test IdP" }).isVisible()).resolves.toBe(true);
    expect(await page.content()).not.toContain("Development sign-in");
    const dev = await fetch(`${app.url}/api/dev-signin`, { method: "POST", body: new URLSearchParams({ email: "x@y.org" }) });
    expect(dev.status).toBe(404);
    if (shots) await page.screenshot({ path: `${shots}/sso-signin.png` });
  });

  it("signs in at the IdP, creates the user with an account link and a database session, and accepts the invitation", async () => {
    await page.getByRole("button", { name: "Sign in with Test IdP" }).click();
    await page.waitForURL(new RegExp(`^${idp.issuer}/interaction/`));
    if (shots) await page.screenshot({ path: `${shots}/sso-idp-login.png` });
    await page.fill('input[name="login"]', "alice");
    await page.fill('input[name="password"]', "any-password");
    await page.click('button[type="submit"]');
    // Consent for the portal, once.
    await page.waitForURL(new RegExp(`^${idp.issuer}/interaction/`));
    await page.click('button[type="submit"]');
    await page.waitForURL(`${app.url}/projects`);
    await page.getByText("Invited cohort").waitFor();
    if (shots) await page.screenshot({ path: `${shots}/sso-projects.png` });

    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "alice@institute.test" }, include: { accounts: true, sessions: true, memberships: true } });
    expect(user.name).toBe("Alice Example");
    expect(user.accounts.map((a) => [a.provider, a.providerAccountId])).toEqual([["oidc", "alice"]]);
    expect(user.sessions).toHaveLength(1);
    expect(user.memberships.map((m) => [m.projectId, m.role])).toEqual([["COHORT", "collaborator"]]);
    expect(await db.prisma.projectInvitation.count()).toBe(0);
    const audit = await db.prisma.auditEvent.findFirstOrThrow({ where: { action: "invitation.accept" } });
    expect(audit.actorId).toBe(user.id);
  });

  it("the session works for the API and the pages", async () => {
    const me = await page.evaluate(async () => (await fetch("/api/trpc/me.get")).json());
    expect(me.result.data.json).toMatchObject({ email: "alice@institute.test", name: "Alice Example", siteAdmin: false });
    await page.goto(`${app.url}/projects/COHORT`);
    await page.getByText("Collaborator", { exact: false }).first().waitFor();
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === "next-auth.session-token");
    expect(session?.httpOnly).toBe(true);
  });

  it("signs out: the session is gone from the database and the portal asks to sign in again", async () => {
    await page.getByTestId("user-menu").click();
    await page.getByRole("menuitem", { name: "Sign out" }).click();
    await page.waitForURL(/\/signin/);
    expect(await db.prisma.session.count()).toBe(0);
    await page.goto(`${app.url}/projects`);
    await page.waitForURL(/\/signin/);
    const me = await page.evaluate(async () => (await fetch("/api/trpc/me.get")).json());
    expect(me.result.data.json).toBeNull();
  });
});
