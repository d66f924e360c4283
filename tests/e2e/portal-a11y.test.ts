// The data manager's portal in Chromium (#21 §3, §6, §7, §8): an axe-core accessibility check of
// the main pages (no serious or critical violation, colour contrast included), the 404 inside the
// portal frame, the system status page, an invitation without a mail server (the link to copy),
// the audit log's filters and wrapped values, and the AE-title removal that says what stops.
// Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { chooseOption, devSignIn, launchChromium } from "../helpers/browser";
import { createPeople, createProjectFixture, type People, type ProjectFixture } from "../helpers/fixtures";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
let people: People;
let f: ProjectFixture;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-a11y-e2e-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  f = await createProjectFixture(db.prisma, people, "A11Y", "private");
  // A setting change with long values (the audit log wraps them instead of cutting the column).
  await db.prisma.auditEvent.create({
    data: { projectId: f.projectId, actorId: people.users.owner.id, action: "intake.settings", before: { deidProfile: "basic" }, after: { deidProfile: "basic+retainLongitudinalModifiedDates+retainDeviceIdentity+cleanDescriptors", deidScript: { chars: 48211, sha256: "9f".repeat(32) } } },
  });
  app = await startAtrium({
    DATABASE_URL: db.url,
    ATRIUM_DATA_DIR: dataDir,
    ATRIUM_DICOM_PORT: "0",
    ATRIUM_QUEUE_PREFIX: `atrium-a11y-e2e-${process.pid}`,
    ATRIUM_ADMINS: "admin@atrium.test",
    ATRIUM_SMTP_HOST: undefined,
  });
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Serious and critical axe-core violations of WCAG 2.x A/AA on the page as it is now. */
async function seriousViolations(): Promise<string[]> {
  const result = await new AxeBuilder({ page: page as never }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => `${n.target.join(" ")}${n.failureSummary ? ` [${n.failureSummary.split("\n").slice(1, 2).join("")}]` : ""}`).join("; ")}`);
}

describe("the main pages are accessible", () => {
  it("projects list, overview, Intake, Quarantine, Archive, Browse, Members and Audit: no serious or critical axe violation", async () => {
    await devSignIn(page, app.url, people.users.owner.email, "owner");
    const found: Record<string, string[]> = {};
    await page.getByText("A11Y").first().waitFor();
    await page.waitForLoadState("networkidle");
    await shot("a11y-projects");
    found.projects = await seriousViolations();
    for (const [tab, ready] of [
      ["overview", "Settings"],
      ["intake", "Routing rules"],
      ["quarantine", "Quarantine"],
      ["archive", "Archive"],
      ["browse", "Browse"],
      ["members", "Invite by e-mail"],
      ["audit", "Export CSV"],
    ] as const) {
      await page.goto(`${app.url}/projects/A11Y?tab=${tab}`);
      await page.getByText(ready).first().waitFor();
      await page.waitForLoadState("networkidle");
      await page.waitForTimeout(300);
      await shot(`a11y-${tab}`);
      found[tab] = await seriousViolations();
    }
    expect(Object.fromEntries(Object.entries(found).filter(([, v]) => v.length))).toEqual({});
  }, 180_000);
});

describe("small things that add up", () => {
  it("an unknown URL shows a 404 inside the portal frame", async () => {
    const res = await page.goto(`${app.url}/no/such/page`);
    expect(res?.status()).toBe(404);
    await page.getByTestId("not-found").getByText("This page does not exist").waitFor();
    await page.getByTestId("user-menu").waitFor();
    await shot("not-found");
    await page.getByRole("link", { name: "Go to your projects" }).click();
    await page.waitForURL(`${app.url}/projects`);
  });

  it("'System status' is a page, not raw JSON", async () => {
    await page.goto(`${app.url}/status`);
    await page.getByRole("heading", { name: "System status" }).waitFor();
    await page.getByText("Database").waitFor();
    await shot("status");
    expect(await seriousViolations()).toEqual([]);
  });

  it("an invitation without a mail server says so and offers the link; the role picker says what each role may do", async () => {
    await page.goto(`${app.url}/projects/A11Y?tab=members`);
    await page.getByTestId("role-help").getByText("invite and remove people and change their roles").waitFor();
    await page.getByLabel("E-mail to invite").fill("newcomer@institute.test");
    await page.getByRole("button", { name: "Invite", exact: true }).click();
    const alert = page.getByTestId("invite-link");
    await alert.getByText(/No mail server is configured/).waitFor();
    expect(await alert.getByLabel("Invitation link").inputValue()).toMatch(/\/projects\/A11Y$/);
    await shot("invite-no-mail");
    expect(await db.prisma.projectInvitation.count({ where: { projectId: "A11Y", email: "newcomer@institute.test" } })).toBe(1);
  });

  it("the audit log filters by action and wraps long values", async () => {
    await page.goto(`${app.url}/projects/A11Y?tab=audit`);
    const table = page.getByTestId("audit-table");
    await table.getByText(/basic\+retainLongitudinalModifiedDates\+retainDeviceIdentity\+cleanDescriptors/).waitFor();
    await chooseOption(page, page.getByPlaceholder("Any action"), /^intake\.settings/);
    await page.getByTestId("audit-total").getByText(/match these filters/).waitFor();
    await shot("audit-filtered");
    const box = await table.getByText(/basic\+retainLongitudinalModifiedDates/).boundingBox();
    expect(box!.x + box!.width).toBeLessThanOrEqual(1280);
  });

  it("removing an AE title asks first and says what stops", async () => {
    await page.goto(`${app.url}/projects/A11Y?tab=intake`);
    await page.getByRole("button", { name: `Remove ${f.aeTitle}` }).click();
    const confirm = page.getByTestId("remove-ae-confirm");
    await confirm.getByText(/are refused from now on/).waitFor();
    await page.waitForTimeout(400);
    await shot("remove-ae-confirm");
    await confirm.getByRole("button", { name: "Keep it" }).click();
    expect(await db.prisma.aeRoute.count({ where: { aeTitle: f.aeTitle } })).toBe(1);
  });
});
