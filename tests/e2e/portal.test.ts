// The portal's pages in Chromium, as a researcher uses them: sign in, create a project, invite,
// change settings, read the audit log, see errors that say what to do. Screenshots of every page
// go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};

beforeAll(async () => {
  db = await createTestDatabase();
  // Ada, not a site admin, creates projects here: the site lets everyone (the default is admins only).
  await db.prisma.siteSettings.create({ data: { projectCreation: "all" } });
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_QUEUE_PREFIX: `atrium-portal-${process.pid}`, ATRIUM_ADMINS: "boss@institute.test" });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
});

async function signInAs(email: string, name: string) {
  await devSignIn(page, app.url, email, name);
}

describe("the portal in a browser", () => {
  it("shows the sign-in page, then an empty project list", async () => {
    await page.goto(`${app.url}/projects`);
    await page.waitForURL(/\/signin/);
    await shot("signin");
    await signInAs("ada@institute.test", "Ada Lovelace");
    await page.getByText("No projects yet.").waitFor();
    await shot("projects-empty");
  });

  it("refuses an invalid project id beside the field, then creates the project", async () => {
    await page.getByRole("link", { name: "New project" }).click();
    await page.waitForURL(/\/projects\/new$/);
    await page.getByLabel("Project id").fill("9 lives");
    await page.getByLabel("Name").fill("Brain MRI cohort");
    await page.getByRole("button", { name: "Create project" }).click();
    await page.getByText("Project id must be 2–32 characters").waitFor();
    await shot("new-project-error");
    expect(await db.prisma.project.count()).toBe(0);
    await page.getByLabel("Project id").fill("BRAIN_MRI");
    await page.getByLabel("Description").fill("3T brain MRI of the 2026 cohort.");
    await page.getByLabel("Protected").check();
    await page.getByRole("button", { name: "Create project" }).click();
    await page.waitForURL(/\/projects\/BRAIN_MRI\?tab=members/);
    const project = await db.prisma.project.findUniqueOrThrow({ where: { id: "BRAIN_MRI" }, include: { members: true } });
    expect(project.accessibility).toBe("protected");
    expect(project.members.map((m) => m.role)).toEqual(["owner"]);
  });

  it("a duplicate id is refused with the reason", async () => {
    await page.goto(`${app.url}/projects/new`);
    await page.getByLabel("Project id").fill("brain_mri");
    await page.getByLabel("Name").fill("Again");
    await page.getByRole("button", { name: "Create project" }).click();
    await page.getByText(/already exists/).waitFor();
    expect(await db.prisma.project.count()).toBe(1);
  });

  it("invites a colleague who has not signed in yet, and shows the pending invitation", async () => {
    await page.goto(`${app.url}/projects/BRAIN_MRI?tab=members`);
    await page.getByLabel("E-mail to invite").fill("Grace@Institute.test");
    await page.getByRole("button", { name: "Invite" }).click();
    await page.getByText("Invited · waits for first sign-in").waitFor();
    await shot("project-members");
    expect(await db.prisma.projectInvitation.findMany({ select: { email: true, role: true } })).toEqual([
      { email: "grace@institute.test", role: "member" },
    ]);
  });

  it("changes the project's settings and shows them in the audit log", async () => {
    await page.getByRole("tab", { name: "Overview" }).click();
    await page.getByLabel("Name").fill("Brain MRI cohort 2026");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Changed: name").waitFor();
    await shot("project-overview");
    await page.getByRole("tab", { name: "Audit log" }).click();
    await page.getByTestId("audit-table").getByText("project.update").waitFor();
    await page.getByTestId("audit-table").getByText("invitation.create").waitFor();
    await page.getByTestId("audit-table").getByText("project.create").waitFor();
    await shot("project-audit");
  });

  it("routes a called AE title to the project from the intake tab, and refuses a bad one", async () => {
    await page.getByRole("tab", { name: "Intake" }).click();
    await page.getByText("No AE title routes here yet").waitFor();
    await page.getByLabel("Called AE title").fill("THIS_AE_TITLE_IS_TOO_LONG");
    await page.getByRole("button", { name: "Add route" }).click();
    await page.getByText(/at most 16 characters/).waitFor();
    await page.getByLabel("Called AE title").fill("brain_mri");
    await page.getByRole("button", { name: "Add route" }).click();
    await page.getByText("Scanners can now send to BRAIN_MRI.").waitFor();
    await shot("project-intake");
    expect(await db.prisma.aeRoute.findMany({ select: { aeTitle: true, projectId: true } })).toEqual([{ aeTitle: "BRAIN_MRI", projectId: "BRAIN_MRI" }]);
  });

  it("the invited colleague joins on first sign-in; as a member she sees no audit log and no owner controls", async () => {
    await page.context().clearCookies();
    await signInAs("grace@institute.test", "Grace Hopper");
    await page.getByText("Brain MRI cohort 2026").waitFor();
    await page.goto(`${app.url}/projects/BRAIN_MRI`);
    await page.getByRole("tab", { name: /Members/ }).waitFor();
    expect(await page.getByRole("tab", { name: "Audit log" }).count()).toBe(0);
    expect(await page.getByRole("button", { name: "Save changes" }).count()).toBe(0);
  });

  it("an outsider sees the protected project listed but not its members, and a private one not at all", async () => {
    await db.prisma.project.create({ data: { id: "SECRET", idLower: "secret", name: "Secret project" } });
    await page.context().clearCookies();
    await signInAs("outsider@institute.test", "Out Sider");
    await page.getByText("Brain MRI cohort 2026").waitFor();
    expect(await page.getByText("Secret project").count()).toBe(0);
    await page.goto(`${app.url}/projects/BRAIN_MRI?tab=members`);
    await page.getByText("Members are visible to the project's members").waitFor();
    await shot("project-protected-outsider");
    await page.goto(`${app.url}/projects/SECRET`);
    await page.getByText(/No project "SECRET" is visible to you/).waitFor();
    await shot("project-not-visible");
  });

  it("the user menu names a site admin and signs out", async () => {
    await page.context().clearCookies();
    await signInAs("boss@institute.test", "The Boss");
    await page.getByText("Secret project").waitFor();
    await page.getByTestId("user-menu").click();
    await page.getByText("Site admin").waitFor();
    await shot("user-menu");
    await page.getByRole("menuitem", { name: "Sign out" }).click();
    await page.waitForURL(/\/signin/);
  });
});
