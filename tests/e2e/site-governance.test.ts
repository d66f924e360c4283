// Site governance in the portal, through the real `atrium start` (issue #17 §1): an ordinary user
// cannot create projects by default (the button says why); a site admin opens project creation,
// enables and orders projects for site routing (their owners see it in the routing panel), and
// reads the site audit log, where an owner's view of an original header appears. Screenshots go to
// ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import { SAMPLES_DIR } from "@/lib/samples";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-governance-e2e-"));
const ADMIN = "chief@institute.test";
const OWNER = "olga@institute.test";
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};

beforeAll(async () => {
  db = await createTestDatabase();
  const owner = await db.prisma.user.create({ data: { email: OWNER, name: "Olga Owner" } });
  for (const [id, name, rule] of [
    ["NEURO", "Neuro imaging", 'Modality == "MR"'],
    ["CARDIO", "Cardiac CT", 'Modality == "CT" && BodyPartExamined == "HEART"'],
    ["GREEDY", "Everything please", 'SOPInstanceUID != ""'],
  ] as const) {
    await db.prisma.project.create({ data: { id, idLower: id.toLowerCase(), name, members: { create: { userId: owner.id, role: "owner" } } } });
    await db.prisma.routingRule.create({ data: { projectId: id, position: 0, expression: rule, createdById: owner.id } });
  }
  const rel = path.join("staging", "e2e", "q.dcm");
  mkdirSync(path.join(dataDir, "staging", "e2e"), { recursive: true });
  copyFileSync(path.join(SAMPLES_DIR, "pydicom__CT_small.dcm"), path.join(dataDir, rel));
  await db.prisma.receivedInstance.create({
    data: { projectId: "NEURO", channel: "cstore", batchId: "e2e", stagingPath: rel, sizeBytes: 1, sha256: "0".repeat(64), status: "quarantined", reason: "No routing rule of project NEURO matched this instance.", reasonCode: "rule_mismatch" },
  });
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_ADMINS: ADMIN, ATRIUM_QUEUE_PREFIX: `atrium-governance-${process.pid}` });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("site governance in the portal", () => {
  it("an ordinary user sees why they cannot create a project, on the list and on the form", async () => {
    await devSignIn(page, app.url, "nina@institute.test", "Nina Newcomer");
    await page.getByTestId("new-project-reason").getByText(/only site administrators create projects/).waitFor();
    expect(await page.getByTestId("new-project-disabled").isDisabled()).toBe(true);
    await shot("governance-new-project-disabled");
    await page.goto(`${app.url}/projects/new`);
    await page.getByText("You cannot create projects on this site").waitFor();
    expect(await page.getByRole("button", { name: "Create project" }).isDisabled()).toBe(true);
  });

  it("the owner sees that her project is not enabled for site routing, and opens an original header (audited)", async () => {
    await page.context().clearCookies();
    await devSignIn(page, app.url, OWNER, "Olga Owner");
    await page.goto(`${app.url}/projects/GREEDY?tab=intake`);
    await page.getByTestId("site-routing-status").getByText("Not enabled for site routing").waitFor();
    await page.goto(`${app.url}/projects/NEURO?tab=quarantine`);
    await page.getByRole("button", { name: "Show original header" }).first().click();
    await page.getByTestId("original-header").waitFor();
    await page.getByText(/site audit log that site administrators review/).waitFor();
    expect(await db.prisma.auditEvent.count({ where: { action: "intake.header.view", projectId: "NEURO" } })).toBe(1);
  });

  it("a site admin lets everyone create projects (audited)", async () => {
    await page.context().clearCookies();
    await devSignIn(page, app.url, ADMIN, "Chief Admin");
    await page.getByTestId("user-menu").click();
    await page.getByRole("menuitem", { name: "Project creation" }).click();
    await page.waitForURL(`${app.url}/admin/projects`);
    await page.getByTestId("project-creation-policy").getByText("site administrators only").waitFor();
    await shot("admin-project-creation");
    await page.getByLabel("Every signed-in user (all)").check();
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByTestId("project-creation-policy").getByText("every signed-in user").waitFor();
    expect((await db.prisma.siteSettings.findUniqueOrThrow({ where: { id: "site" } })).projectCreation).toBe("all");
  });

  it("a site admin enables projects for site routing and orders them; GREEDY's catch-all stays out", async () => {
    await page.getByTestId("user-menu").click();
    await page.getByRole("menuitem", { name: "Site routing" }).click();
    await page.waitForURL(`${app.url}/admin/routing`);
    await page.getByText("No project takes part in site routing").waitFor();
    await page.getByTestId("site-routing-row-GREEDY").getByText('SOPInstanceUID != ""').waitFor();
    await page.getByTestId("site-routing-row-NEURO").getByRole("button", { name: "Enable" }).click();
    await page.getByTestId("site-routing-enabled").getByText("Neuro imaging").waitFor();
    await page.getByTestId("site-routing-row-CARDIO").getByRole("button", { name: "Enable" }).click();
    await page.getByTestId("site-routing-enabled").getByText("Cardiac CT").waitFor();
    await page.getByRole("button", { name: "Move CARDIO up" }).click();
    await expect.poll(async () => (await db.prisma.siteRoutingProject.findMany({ orderBy: { position: "asc" } })).map((p) => p.projectId)).toEqual(["CARDIO", "NEURO"]);
    await page.getByTestId("site-routing-row-NEURO").getByText("2", { exact: true }).waitFor();
    await shot("admin-site-routing");
  });

  it("the owner sees her project's place in the order", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const owner = await ctx.newPage();
    await devSignIn(owner, app.url, OWNER, "Olga Owner");
    await owner.goto(`${app.url}/projects/NEURO?tab=intake`);
    await owner.getByTestId("site-routing-status").getByText(/number 2 of 2/).waitFor();
    if (shots) await owner.getByTestId("routing-rules").screenshot({ path: `${shots}/governance-routing-panel-enabled.png` });
    await ctx.close();
  });

  it("the site audit log lists the header view, the settings change and the routing changes, filtered", async () => {
    await page.getByTestId("user-menu").click();
    await page.getByRole("menuitem", { name: "Site audit log" }).click();
    await page.waitForURL(`${app.url}/admin/audit`);
    const table = page.getByTestId("site-audit-table");
    await table.getByText("site.routing.reorder").first().waitFor();
    await table.getByText("site.settings").waitFor();
    await table.getByText("intake.header.view").waitFor();
    await shot("admin-site-audit");
    await page.getByText("Original-header views").click();
    await page.getByTestId("site-audit-total").getByText(/^1 event$/).waitFor();
    await table.getByText(OWNER).waitFor();
    await shot("admin-site-audit-header-views");
  });
});
