// Issue #21 "a non-member has no request access", in Chromium through the real `atrium start`: a
// signed-in user who sees a protected project asks to take part, with a message; an owner finds the
// request on the Members tab and approves it as a member; the requester's page then shows the
// project's data tabs. Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-access-request-e2e-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (page: Page, name: string) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};
const P = "OPENSTUDY";

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: `atrium-access-e2e-${process.pid}` });
  browser = await launchChromium();
}, 900_000);
afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("requesting access to a project", () => {
  it("a visitor asks, an owner approves as a member, the visitor then sees the data tabs", async () => {
    const owner = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const visitor = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await devSignIn(owner, app.url, "olga@institute.test", "Olga Owner");
    await devSignIn(visitor, app.url, "vic@institute.test", "Vic Visitor");
    const o = await db.prisma.user.findUniqueOrThrow({ where: { email: "olga@institute.test" } });
    await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Open study", accessibility: "protected", members: { create: { userId: o.id, role: "owner" } } } });

    await visitor.goto(`${app.url}/projects/${P}`);
    expect(await visitor.getByRole("tab", { name: "Browse" }).count()).toBe(0);
    await visitor.getByRole("button", { name: "Request access" }).click();
    await visitor.getByLabel("What you would do (the owners read this)").fill("I read the baseline scans for the QC study.");
    await visitor.getByRole("button", { name: "Send the request" }).click();
    await visitor.getByTestId("access-pending").waitFor();
    await shot(visitor, "access-requested");

    await owner.goto(`${app.url}/projects/${P}?tab=members`);
    const requests = owner.getByTestId("access-requests");
    await requests.getByText("I read the baseline scans for the QC study.").waitFor();
    await shot(owner, "access-requests-owner");
    await requests.getByRole("button", { name: "Approve" }).click();
    await owner.getByText("Request approved").waitFor();
    await requests.waitFor({ state: "detached" });
    expect((await db.prisma.projectMember.findFirstOrThrow({ where: { projectId: P, user: { email: "vic@institute.test" } } })).role).toBe("member");

    await visitor.reload();
    await visitor.getByRole("tab", { name: "Browse" }).waitFor();
    expect(await visitor.getByRole("button", { name: "Request access" }).count()).toBe(0);
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: { in: ["access.request", "access.approve"] } } })).toBe(2);
  }, 180_000);
});
