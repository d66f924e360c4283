// Routing rules and the quarantine in the portal, through the real `atrium start`: an owner adds a
// rule (an invalid one first: the error says where), tests it against sample files, and a CT sent
// by storescu to the project's AE title waits in the Quarantine tab, where the owner opens its
// original header and deletes it after confirmation. A site admin sees what no project accepted.
// Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { freePort, startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import { SAMPLES_DIR } from "@/lib/samples";
import { run, storescuConfig, storescuSuccesses } from "../dicom-net/helpers";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
let dicomPort: number;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-routing-e2e-"));
const MR = path.join(SAMPLES_DIR, "dwv__bbmri-53323131.dcm");
const CT = path.join(SAMPLES_DIR, "highdicom__ct_image.dcm");
const US = path.join(SAMPLES_DIR, "dwv__gdcm-US-RGB-8-esopecho.dcm");
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string, p: Page = page) => {
  if (shots) await p.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};

async function signIn(p: Page, email: string, name: string) {
  await devSignIn(p, app.url, email, name);
}

async function storescu(aec: string, file: string) {
  const cfg = await storescuConfig([file], dataDir);
  const r = await run("storescu", ["-nh", "-v", "-xf", cfg, "Default", "-aec", aec, "-aet", "SCANNER", "127.0.0.1", String(dicomPort), file], { timeoutMs: 60_000 });
  expect(storescuSuccesses(r.stdout + r.stderr), r.stderr).toHaveLength(1);
}

beforeAll(async () => {
  db = await createTestDatabase();
  dicomPort = await freePort();
  app = await startAtrium({
    DATABASE_URL: db.url,
    ATRIUM_DATA_DIR: dataDir,
    ATRIUM_DICOM_PORT: String(dicomPort),
    ATRIUM_ADMINS: "admin@institute.test",
    ATRIUM_QUEUE_PREFIX: `atrium-routing-e2e-${process.pid}`,
  });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("routing rules and the quarantine in the portal", () => {
  it("an owner adds a rule, sees where an invalid one is wrong, and tests it against sample files", async () => {
    await signIn(page, "owner@institute.test", "Olga Owner");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
    await db.prisma.project.create({ data: { id: "NEURO", idLower: "neuro", name: "Neuro imaging", members: { create: { userId: user.id, role: "owner" } } } });
    await db.prisma.aeRoute.create({ data: { aeTitle: "NEURO_MRI", projectId: "NEURO", allowedCallingAes: [], allowedAddresses: [] } });

    await page.goto(`${app.url}/projects/NEURO?tab=intake`);
    const rules = page.getByTestId("routing-rules");
    await rules.getByText("No routing rules").waitFor();
    await rules.getByLabel("New rule").fill('Modality = "MR"');
    await rules.getByRole("button", { name: "Add rule" }).click();
    await rules.getByText(/At column 10: expected "=="/).waitFor();
    await shot("routing-rule-error");
    // A backreference cannot run on RE2: refused with the reason, and the help says what RE2 lacks (#17 §2).
    await rules.getByLabel("New rule").fill("StudyDescription ~ /(a+)\\1/");
    await rules.getByRole("button", { name: "Add rule" }).click();
    await rules.getByText(/At column 20: .*backreferences such as \\1 are not supported/).waitFor();
    await rules.getByText("Syntax and examples").click();
    await rules.getByTestId("rules-regex-help").getByText(/without backreferences/).waitFor();
    await rules.getByText("MR studies whose description mentions brain, in any case").waitFor();
    await page.waitForTimeout(500); // the help's opening transition, for the screenshot
    await shot("routing-rule-re2");

    await rules.getByLabel("New rule").fill('Modality == "MR" && Rows >= 64');
    await rules.getByLabel("Description (optional)").fill("MR only");
    await rules.getByRole("button", { name: "Add rule" }).click();
    // The first enabled rule changes what the project accepts: the portal says so and asks (#21 §3).
    const confirm = page.getByTestId("first-rule-confirm");
    await confirm.getByText(/only instances that match an enabled rule are accepted/).waitFor();
    await page.waitForTimeout(400); // the modal's opening transition, for the screenshot
    await shot("routing-first-rule-confirm");
    expect(await db.prisma.routingRule.count({ where: { projectId: "NEURO" } })).toBe(0);
    await confirm.getByRole("button", { name: "Accept only matching instances" }).click();
    await rules.getByText('Modality == "MR" && Rows >= 64').waitFor();
    // The list shows the rule once its save returned; the database is asked until then.
    await expect.poll(() => db.prisma.routingRule.count({ where: { projectId: "NEURO", enabled: true } })).toBe(1);

    const tester = page.getByTestId("rule-tester");
    await rules.getByRole("button", { name: "Test rule 1" }).click();
    await tester.locator('input[type="file"]').setInputFiles(MR);
    await tester.getByRole("button", { name: "Test", exact: true }).click();
    const result = page.getByTestId("rule-test-result");
    await result.getByText("Match", { exact: true }).waitFor();
    await result.getByRole("cell", { name: "Modality" }).waitFor();
    await result.getByText("MR", { exact: true }).waitFor();
    await shot("routing-rule-test-match");

    await tester.locator('input[type="file"]').setInputFiles(CT);
    await tester.getByRole("button", { name: "Test", exact: true }).click();
    await result.getByText("No match", { exact: true }).waitFor();
    await tester.getByLabel("Rule to test").fill("Modality ~ /MR");
    await tester.getByRole("button", { name: "Test", exact: true }).click();
    await page.getByTestId("rule-error-caret").waitFor();
    await shot("routing-rule-test-error");
    // The sample was neither stored nor recorded.
    expect(await db.prisma.receivedInstance.count()).toBe(0);
  }, 90_000);

  it("what the rule refuses waits in the Quarantine tab; the owner sees its header and deletes it after confirmation", async () => {
    await storescu("NEURO_MRI", MR);
    await storescu("NEURO_MRI", CT);
    const rows = await db.prisma.receivedInstance.findMany({ where: { projectId: "NEURO" }, orderBy: { receivedAt: "asc" } });
    expect(rows.map((r) => [r.status === "quarantined", r.reasonCode])).toEqual([
      [false, null],
      [true, "rule_mismatch"],
    ]);

    await page.goto(`${app.url}/projects/NEURO?tab=quarantine`);
    const table = page.getByTestId("quarantine-table");
    await table.getByText("No routing rule matched").waitFor();
    await table.getByText(/No routing rule of project NEURO matched this instance/).waitFor();
    await shot("quarantine-tab");

    await table.getByRole("button", { name: "Show original header" }).click();
    const header = page.getByTestId("original-header");
    await header.getByRole("cell", { name: "Modality", exact: true }).waitFor();
    await shot("quarantine-original-header");
    expect(await db.prisma.auditEvent.count({ where: { projectId: "NEURO", action: "intake.header.view" } })).toBe(1);
    await page.keyboard.press("Escape");
    await header.waitFor({ state: "detached" });

    await table.getByRole("button", { name: "Delete instance" }).click();
    await page.getByText("Delete this instance?").waitFor();
    await page.waitForTimeout(400); // the modal's opening transition
    await shot("quarantine-delete-confirm");
    await page.getByRole("dialog").getByRole("button", { name: "Delete", exact: true }).click();
    await table.getByText("Nothing in quarantine").waitFor();
    await shot("quarantine-empty");
    expect(await db.prisma.receivedInstance.count({ where: { status: "quarantined" } })).toBe(0);
    expect(await db.prisma.auditEvent.count({ where: { projectId: "NEURO", action: "intake.delete" } })).toBe(1);
  }, 90_000);

  it("a site admin sees what no project accepted and routes it to a project", async () => {
    await storescu("ATRIUM", US);
    const row = await db.prisma.receivedInstance.findFirstOrThrow({ where: { calledAe: "ATRIUM" } });
    expect(row).toMatchObject({ projectId: null, status: "quarantined", reasonCode: "no_route" });

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const admin = await ctx.newPage();
    await signIn(admin, "admin@institute.test", "Ada Admin");
    await admin.getByTestId("user-menu").click();
    await admin.getByRole("menuitem", { name: "Unrouted quarantine" }).click();
    await admin.waitForURL(`${app.url}/admin/quarantine`);
    const table = admin.getByTestId("quarantine-table");
    await table.getByText(/No project accepts this: it was sent to the site AE title ATRIUM/).waitFor();
    await shot("admin-unrouted", admin);
    await table.getByRole("button", { name: "Route to project" }).click();
    await admin.getByRole("menuitem", { name: /NEURO/ }).click();
    await table.getByText("Nothing waits here").waitFor();
    await shot("admin-unrouted-empty", admin);
    expect(await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({ projectId: "NEURO" });
    await ctx.close();
  }, 90_000);
});
