// The de-identification floor in the portal (issue #17 §0/§1), through the real `atrium start`:
// an owner's garbage script is refused with its line; a script that keeps Patient's Name waits for
// a site admin; the owner previews it on an uploaded sample and is warned about the untouched
// name, IDs, dates and UIDs; the site admin approves it on /admin/deid-floor and it applies.
// Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
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
let owner: Page;
let admin: Page;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-floor-e2e-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (page: Page, name: string) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};

const KEEP_NAME = `<script>
  <e t="00100010" n="PatientName">@keep()</e>
  <e t="00100020" n="PatientID">@hash(this,10)</e>
  <e t="00080018" n="SOPInstanceUID">@hashuid(1.2.3,this)</e>
  <e t="0020000D" n="StudyInstanceUID">@hashuid(1.2.3,this)</e>
  <r t="unspecifiedelements"/>
</script>`;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: `atrium-floor-${process.pid}`, ATRIUM_ADMINS: "admin@institute.test" });
  browser = await launchChromium();
  owner = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  admin = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the de-identification floor in the portal", () => {
  it("refuses a garbage script with its line; a script keeping the name waits for approval; the preview warns", async () => {
    await devSignIn(owner, app.url, "owner@institute.test", "Olga Owner");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
    await db.prisma.project.create({ data: { id: "FLOOR", idLower: "floor", name: "Floor project", members: { create: { userId: user.id, role: "owner" } } } });
    await owner.goto(`${app.url}/projects/FLOOR?tab=intake`);
    const panel = owner.getByTestId("deid-settings");
    await panel.getByText("CTP anonymizer script").click();
    await panel.getByRole("textbox", { name: "Script" }).fill("this is not a script");
    await panel.getByRole("button", { name: "Save script" }).click();
    await panel.getByText(/line 1: not a script line/).waitFor();
    expect(await db.prisma.projectIntake.findUnique({ where: { projectId: "FLOOR" } })).toBeNull();

    await panel.getByRole("textbox", { name: "Script" }).fill(KEEP_NAME);
    await panel.getByRole("button", { name: "Save script" }).click();
    await owner.getByText("Waiting for a site admin", { exact: true }).waitFor();
    await panel.getByText("Waiting for a site admin's approval").waitFor();
    expect((await db.prisma.projectIntake.findUnique({ where: { projectId: "FLOOR" } }))?.deidScript ?? null).toBeNull();

    const preview = owner.getByTestId("deid-preview").last();
    await preview.locator('input[type="file"]').setInputFiles(path.join(SAMPLES_DIR, "pydicom__CT_small.dcm"));
    await preview.getByRole("button", { name: "Preview" }).click();
    await preview.getByText("This sample would be quarantined").waitFor();
    await preview.getByText(/Left untouched: names/).waitFor();
    await preview.getByText("CompressedSamples^CT1").first().waitFor();
    expect(await db.prisma.auditEvent.count({ where: { projectId: "FLOOR", action: "deid.preview" } })).toBe(1);
    await shot(owner, "deid-floor-owner-preview");
  }, 120_000);

  it("a site admin approves it on the floor page, and it applies", async () => {
    await devSignIn(admin, app.url, "admin@institute.test", "Ada Admin");
    await admin.goto(`${app.url}/admin/deid-floor`);
    const pending = admin.getByTestId("deid-approvals");
    await pending.getByText("FLOOR", { exact: true }).waitFor();
    await pending.getByText("PatientName (0010,0010)").waitFor();
    await shot(admin, "deid-floor-admin-pending");
    await pending.getByPlaceholder("Why (e.g. the ethics approval)").fill("IRB 17 allows names");
    await pending.getByRole("button", { name: "Approve" }).click();
    await pending.getByText("No project setting waits for approval.").waitFor();
    await admin.getByText("IRB 17 allows names").waitFor();
    await shot(admin, "deid-floor-admin-decided");
    expect((await db.prisma.projectIntake.findUniqueOrThrow({ where: { projectId: "FLOOR" } })).deidScript).toBe(KEEP_NAME);
    expect((await db.prisma.auditEvent.findMany({ where: { action: "deid.approval.approve" } })).map((a) => a.projectId).sort()).toEqual(["FLOOR", null].sort() as (string | null)[]);
  }, 120_000);
});
