// The Archive tab's Forwarding panel through the real `atrium start` (web + workers) and Chromium,
// with a real Orthanc as the receiver: an owner tests a connection (a closed port says what to fix),
// adds Orthanc with "also send what the project already holds" and sees the held study go queued →
// verified without a reload; a destination that is down shows failed with the reason, the next
// attempt and Retry; removing asks first. A collaborator sees the state, not the controls.
// Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import { startOrthanc, type OrthancProcess } from "../helpers/orthanc";
import { MR_STUDY, SAMPLES } from "../xnat/helpers";
import { stageFile } from "../archive/helpers-intake";
import { freePort } from "../dicom-net/helpers";

const prefix = `atrium-forward-e2e-${process.pid}`;
process.env.ATRIUM_QUEUE_PREFIX = prefix;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
let orthanc: OrthancProcess;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-forward-tab-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (p: Page, name: string) => {
  if (!shots) return;
  await p.evaluate(() => window.scrollTo(0, 0));
  await p.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};
const P = "FWDTAB";

beforeAll(async () => {
  db = await createTestDatabase();
  orthanc = await startOrthanc({ config: { DicomAlwaysAllowFind: true } });
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: prefix });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  const { closeQueues } = await import("@/server/queues");
  await closeQueues();
  await (await import("@/server/redis")).closeSharedRedis();
  await db?.drop();
  await orthanc?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the Forwarding panel", () => {
  it("an owner tests the connection, adds Orthanc with backfill, and the held study is verified without a reload", async () => {
    await devSignIn(page, app.url, "owner@institute.test", "Olga Owner");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
    await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Forwarded study", members: { create: { userId: user.id, role: "owner" } } } });
    // A study the project already holds: received, de-identified and archived (built-in local
    // archive) by the running Atrium's workers before the destination exists.
    await db.prisma.projectIntake.create({ data: { projectId: P, stableAfterSeconds: 3 } });
    const { queueDeid } = await import("@/server/intake/queue");
    for (const f of MR_STUDY) await queueDeid((await stageFile(db.prisma, dataDir, P, path.join(SAMPLES, f))).id);
    const deadline = Date.now() + 120_000;
    while ((await db.prisma.intakeStudy.count({ where: { projectId: P, status: "archived" } })) === 0) {
      if (Date.now() > deadline) throw new Error("the study was not archived in time");
      await new Promise((r) => setTimeout(r, 500));
    }

    await page.goto(`${app.url}/projects/${P}?tab=archive`);
    await page.getByText("No forward destination.").waitFor();
    await page.getByRole("button", { name: "Add destination" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Name").fill("Research PACS");
    await dialog.getByLabel("Host").fill("127.0.0.1");
    await dialog.getByLabel("Port").fill(String(await freePort()));
    await dialog.getByLabel("Receiver's AE title (called)").fill(orthanc.aet);
    await dialog.getByRole("button", { name: "Test connection" }).click();
    await dialog.getByTestId("forward-connection-result").getByText(/nothing listens on that port: check the host and port/).waitFor();
    await shot(page, "forward-test-refused");
    await dialog.getByLabel("Port").fill(String(orthanc.dicomPort));
    await dialog.getByRole("button", { name: "Test connection" }).click();
    await dialog.getByTestId("forward-connection-result").getByText(/C-ECHO to ORTHANC at 127\.0\.0\.1:\d+ succeeded/).waitFor();
    await dialog.getByLabel("Filter (optional)").fill('Modality == "MR');
    await dialog.getByRole("button", { name: "Add destination" }).click();
    await dialog.getByText(/^Filter: At column/).waitFor();
    await dialog.getByLabel("Filter (optional)").fill('Modality == "MR"');
    await dialog.getByTestId("backfill").check();
    await shot(page, "forward-add-form");
    await dialog.getByRole("button", { name: "Add destination" }).click();
    await page.getByText("Destination added").waitFor();

    const card = page.getByTestId("destination-Research PACS");
    await card.getByTestId("forward-row-verified").waitFor({ timeout: 90_000 });
    await card.getByTestId("forward-verification").getByText(`${MR_STUDY.length} delivered · the receiver holds ${MR_STUDY.length} instances of the study, as delivered`).waitFor();
    expect(await card.getByTestId("fcount-verified").innerText()).toMatch(/1$/);
    await card.getByTestId("instance-counts").getByText(new RegExp(`^Instances: ${MR_STUDY.length} delivered`)).waitFor();
    await shot(page, "forward-verified");
    const stored = (await (await orthanc.rest("/statistics")).json()) as { CountInstances: number };
    expect(stored.CountInstances).toBe(MR_STUDY.length);
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "forward.create" } })).toBe(1);
  }, 180_000);

  it("a destination that is down shows failed with the reason and Retry; removing asks first", async () => {
    await page.getByRole("button", { name: "Add destination" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Name").fill("Offline node");
    await dialog.getByLabel("Host").fill("127.0.0.1");
    await dialog.getByLabel("Port").fill(String(await freePort()));
    await dialog.getByLabel("Receiver's AE title (called)").fill("OFFLINE");
    await dialog.getByTestId("backfill").check();
    await dialog.getByRole("button", { name: "Add destination" }).click();
    const card = page.getByTestId("destination-Offline node");
    await card.getByTestId("forward-row-failed").waitFor({ timeout: 90_000 });
    await card.getByTestId("forward-error").getByText(/instances were not delivered: \d+× connection failed/).waitFor();
    await card.getByText(/next attempt in/).waitFor();
    await card.getByRole("button", { name: "Retry" }).waitFor();
    await shot(page, "forward-failed");
    // The other destination is not held back.
    expect(await page.getByTestId("destination-Research PACS").getByTestId("fcount-verified").innerText()).toMatch(/1$/);

    await card.getByRole("button", { name: "Remove" }).click();
    await page.getByText("Remove this destination?").waitFor();
    await shot(page, "forward-remove-confirm");
    await page.getByTestId("confirm-remove").click();
    await card.waitFor({ state: "detached" });
    expect(await db.prisma.forwardDestination.count({ where: { projectId: P } })).toBe(1);
  }, 180_000);

  it("a collaborator sees the destinations and their state, without the controls", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const collab = await ctx.newPage();
    await devSignIn(collab, app.url, "collab@institute.test", "Carl Collaborator");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "collab@institute.test" } });
    await db.prisma.projectMember.create({ data: { projectId: P, userId: user.id, role: "collaborator" } });
    await collab.goto(`${app.url}/projects/${P}?tab=archive`);
    const card = collab.getByTestId("destination-Research PACS");
    await card.getByTestId("forward-row-verified").waitFor();
    expect(await collab.getByRole("button", { name: "Add destination" }).count()).toBe(0);
    expect(await card.getByRole("button", { name: "Remove" }).count()).toBe(0);
    expect(await card.getByRole("button", { name: "Test connection" }).count()).toBe(0);
    await shot(collab, "forward-collaborator");
    await ctx.close();
  }, 120_000);
});
