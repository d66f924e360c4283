// Bulk actions at scale through the real `atrium start` and Chromium (#21 §1): a quarantine of
// 1,500 instances (rows created directly in the database) is paged on the server, the page and
// then "every matching instance" are selected, one is unticked, and Retry runs in chunks behind a
// confirmation with a progress dialog until none remain; the last one is deleted. On the Archive
// tab 250 failed studies are selected across pages and retried. Screenshots go to
// ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { linkSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { chooseOption, devSignIn, launchChromium } from "../helpers/browser";
import { SAMPLES_DIR } from "@/lib/samples";

const prefix = `atrium-bulk-e2e-${process.pid}`;
process.env.ATRIUM_QUEUE_PREFIX = prefix;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-bulk-e2e-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (!shots) return;
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: false });
};
const P = "Q1500";
const CT = path.join(SAMPLES_DIR, "highdicom__ct_image.dcm");

beforeAll(async () => {
  db = await createTestDatabase();
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
  rmSync(dataDir, { recursive: true, force: true });
});

describe("bulk actions over 1,500 rows", () => {
  it("pages a 1,500-instance quarantine, selects every matching instance but one, and retries them with progress", async () => {
    await devSignIn(page, app.url, "owner@institute.test", "Olga Owner");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
    for (const id of [P, "OTHER"]) {
      await db.prisma.project.create({ data: { id, idLower: id.toLowerCase(), name: `${id} study`, members: { create: { userId: user.id, role: "owner" } } } });
    }
    // 1,500 quarantined instances; the newest 150 have a staged file (hard links of one CT image),
    // so their rows show study and series; the others' files are missing (the worker quarantines
    // a retried one again as "staged file missing", quickly).
    mkdirSync(path.join(dataDir, "staging", "bulk"), { recursive: true });
    const base = Date.now() - 3_600_000;
    const rows = Array.from({ length: 1500 }, (_, i) => {
      const rel = path.join("staging", "bulk", `${i}.dcm`);
      if (i >= 1350) linkSync(CT, path.join(dataDir, rel));
      const at = new Date(base + i * 1000);
      return {
        projectId: P, channel: "cstore" as const, batchId: `batch${Math.floor(i / 100)}`, callingAe: "MODALITY1", calledAe: "Q1500",
        sopClassUid: "1.2.840.10008.5.1.4.1.1.2", transferSyntaxUid: "1.2.840.10008.1.2.1", stagingPath: rel, sizeBytes: 40_000 + i,
        sha256: "0".repeat(64), status: "quarantined" as const, reasonCode: "rule_mismatch",
        reason: "No routing rule of Q1500 matched: the project accepts only instances that match one.", receivedAt: at, updatedAt: at,
      };
    });
    await db.prisma.receivedInstance.createMany({ data: rows });

    const t0 = Date.now();
    await page.goto(`${app.url}/projects/${P}?tab=quarantine`);
    await page.getByTestId("quarantine-count").getByText("1–100 of 1,500 instances").waitFor();
    const firstPaint = Date.now() - t0;
    expect(await page.getByTestId("quarantine-row").count()).toBe(100);
    const firstRow = page.getByTestId("quarantine-row").first();
    await firstRow.getByText("CT · CT Image", { exact: true }).waitFor();
    expect(await firstRow.getByTestId("quarantine-study").innerText()).toMatch(/^study [0-9a-f]{6} · series \d+ \([0-9a-f]{6}\)/);
    await shot("bulk-quarantine-page1");

    await page.getByRole("button", { name: "Next" }).click();
    await page.getByTestId("quarantine-count").getByText("101–200 of 1,500 instances").waitFor();
    await page.getByRole("button", { name: "Previous" }).click();
    await page.getByTestId("quarantine-count").getByText("1–100 of 1,500 instances").waitFor();

    // Tick the page, then every matching instance, then untick the first row.
    await page.getByTestId("select-page").check();
    await page.getByTestId("selection-count").getByText("100 instances selected").waitFor();
    await page.getByTestId("select-matching").getByText("Select all 1,500 matching instances").click();
    await page.getByTestId("selection-count").getByText("All 1,500 matching instances selected").waitFor();
    await page.getByRole("button", { name: "Next" }).click();
    await page.getByTestId("quarantine-count").getByText("101–200 of 1,500 instances").waitFor();
    // Rows of other pages are selected too.
    expect(await page.getByTestId("quarantine-row").first().getByRole("checkbox").isChecked()).toBe(true);
    await page.getByRole("button", { name: "Previous" }).click();
    await page.getByTestId("quarantine-count").getByText("1–100 of 1,500 instances").waitFor();
    const kept = await page.getByTestId("quarantine-row").first().getByTestId("quarantine-study").innerText();
    await page.getByTestId("quarantine-row").first().getByRole("checkbox").uncheck();
    await page.getByTestId("selection-count").getByText("1,499 of 1,500 matching instances selected").waitFor();
    await shot("bulk-quarantine-selected");

    await page.getByTestId("selection-bar").getByRole("button", { name: "Retry" }).click();
    await page.getByText("Retry 1,499 instances?").waitFor();
    expect(await page.getByTestId("bulk-what").innerText()).toMatch(/^1,499 quarantined instances go through this project's de-identification again \(every instance matching the filters/);
    await shot("bulk-quarantine-confirm");
    await page.getByTestId("bulk-confirm").click();
    await page.getByTestId("bulk-finished").waitFor({ timeout: 120_000 });
    expect(await page.getByTestId("bulk-progress").innerText()).toBe("1,499 of 1,499 instances queued again.");
    await shot("bulk-quarantine-done");
    await page.getByRole("button", { name: "Close" }).click();

    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "intake.retry" } })).toBe(1499);
    const left = await db.prisma.receivedInstance.findMany({ where: { projectId: P, reasonCode: "rule_mismatch", status: "quarantined" }, select: { id: true } });
    expect(left).toHaveLength(1);
    expect(kept).toMatch(/^study /);

    // The one left: filter by its reason, tick it, delete it (asked first).
    await chooseOption(page, page.getByLabel("Reason").first(), /No routing rule matched/);
    await page.getByTestId("quarantine-count").getByText("1 instance").waitFor();
    await page.getByTestId("quarantine-row").first().getByRole("checkbox").check();
    await page.getByTestId("selection-bar").getByRole("button", { name: "Delete" }).click();
    await page.getByText("Delete 1 instance for good?").waitFor();
    await page.getByTestId("bulk-confirm").click();
    await page.getByTestId("bulk-finished").waitFor();
    expect(await page.getByTestId("bulk-progress").innerText()).toBe("1 of 1 instance deleted.");
    await page.getByRole("button", { name: "Close" }).click();
    expect(await db.prisma.receivedInstance.count({ where: { id: left[0]!.id } })).toBe(0);
    console.log(`quarantine of 1,500: first page in ${firstPaint} ms (navigation to content)`);
  }, 240_000);

  it("selects every failed study of the Archive tab across pages and retries them", async () => {
    const studies = Array.from({ length: 250 }, (_, i) => ({ id: `st${String(i).padStart(4, "0")}`, projectId: "OTHER", studyInstanceUid: `2.25.${1000 + i}`, subjectLabel: `SUBJ${String(i % 50).padStart(3, "0")}`, status: "failed" as const }));
    await db.prisma.intakeStudy.createMany({ data: studies });
    await db.prisma.studyArchive.createMany({
      data: studies.map((s, i) => ({
        studyId: s.id, projectId: "OTHER", state: "failed" as const, attempts: 5, lastError: "XNAT POST /data/services/import failed (500)",
        queuedAt: new Date(Date.now() - 3_600_000 + i * 1000),
      })),
    });
    await page.goto(`${app.url}/projects/OTHER?tab=archive`);
    await page.getByTestId("archive-count").getByText("1–100 of 250 studies").waitFor();
    await page.getByTestId("count-failed").click();
    await page.getByTestId("select-page").check();
    await page.getByTestId("selection-count").getByText("100 failed studies selected").waitFor();
    await page.getByTestId("select-matching").getByText("Select all 250 failed studies").click();
    await page.getByTestId("selection-count").getByText("All 250 matching failed studies selected").waitFor();
    await shot("bulk-archive-selected");
    await page.getByTestId("selection-bar").getByRole("button", { name: "Retry" }).click();
    await page.getByText("Retry 250 failed studies?").waitFor();
    await page.getByTestId("bulk-confirm").click();
    await page.getByTestId("bulk-finished").waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("bulk-progress").innerText()).toBe("250 of 250 failed studies queued again.");
    await shot("bulk-archive-done");
    await page.getByRole("button", { name: "Close" }).click();
    expect(await db.prisma.auditEvent.count({ where: { projectId: "OTHER", action: "archive.retry" } })).toBe(250);
  }, 120_000);
});
