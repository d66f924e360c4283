// The Operations page through the real `atrium start` and Chromium: a site admin sees the queues and
// the live worker of the all-in-one process, the page updates by itself (server-sent events) as
// jobs finish, and other users get no page. Screenshots go to ATRIUM_SCREENSHOTS when set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";

const ADMIN = "ada@institute.test";
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-ops-e2e-"));
const shots = process.env.ATRIUM_SCREENSHOTS;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_ADMINS: ADMIN, ATRIUM_QUEUE_PREFIX: `atrium-ops-e2e-${process.pid}` });
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("operations page", () => {
  it("is not there for a user who is not a site admin", async () => {
    await devSignIn(page, app.url, "olga@institute.test", "Olga Owner");
    const r = await page.goto(`${app.url}/admin/operations`);
    expect(r?.status()).toBe(404);
    await page.context().clearCookies();
  }, 60_000);

  it("shows queues and the live worker to a site admin, and updates itself as jobs finish", async () => {
    await devSignIn(page, app.url, ADMIN, "Ada Admin");
    await page.goto(`${app.url}/admin/operations`);
    await page.getByTestId("queue-intake-stability").waitFor();
    await page.getByTestId("operations-updated").getByText(/^live/).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("workers").getByText("alive").count()).toBe(1);
    const before = (await page.getByTestId("queue-intake-stability").locator("td").nth(7).textContent())!;
    const done = Number(/^(\d+) done/.exec(before)?.[1] ?? -1);
    expect(done).toBeGreaterThanOrEqual(0);
    // The intake-stability sweep runs every 5 s in the workers: the page must count the next ones
    // without a reload (the figures are pushed over server-sent events).
    await page.waitForFunction(
      (n) => Number(/^(\d+) done/.exec(document.querySelector("[data-testid='queue-intake-stability'] td:nth-child(8)")?.textContent ?? "")?.[1] ?? -1) >= n,
      done + 2,
      { timeout: 45_000 },
    );
    if (shots) await page.screenshot({ path: `${shots}/operations.png`, fullPage: true });
  }, 120_000);
});
