// The Archive tab through the real `atrium start` and Chromium, archiving into the XNAT test server
// over HTTP: an owner tests the XNAT connection (a wrong password says what to fix, the right one
// shows the version and rights), saves the target; two studies arrive through intake, one fails on
// an injected XNAT error (reason and next retry shown), the other is archived; Retry archives the
// failed one. Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import type { XnatTestServer } from "../xnat/server";
import { ALICE, CT_STUDY, MR_STUDY, SAMPLES, startServer } from "../xnat/helpers";
import { stageFile } from "../archive/helpers-intake";

const prefix = `atrium-archive-e2e-${process.pid}`;
process.env.ATRIUM_QUEUE_PREFIX = prefix;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
let xnat: XnatTestServer;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-archive-tab-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (!shots) return;
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};
const P = "IMAGING";

beforeAll(async () => {
  db = await createTestDatabase();
  // Rewrites what it imports as XNAT does, and decompresses compressed images as some sites' XNAT do.
  xnat = await startServer({ decompress: true });
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
  await xnat?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function receive(files: string[]) {
  const { queueDeid } = await import("@/server/intake/queue");
  for (const f of files) await queueDeid((await stageFile(db.prisma, dataDir, P, path.join(SAMPLES, f))).id);
}

describe("the Archive tab", () => {
  it("an owner tests the XNAT connection and saves it as the project's target", async () => {
    await devSignIn(page, app.url, "owner@institute.test", "Olga Owner");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
    await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Imaging study", members: { create: { userId: user.id, role: "owner" } } } });

    await page.goto(`${app.url}/projects/${P}?tab=archive`);
    await page.getByText("No study has been handed to the archive yet").waitFor();
    await page.getByText("Files are kept by Atrium").waitFor();
    await shot("archive-tab-local-default");

    await page.getByText("XNAT", { exact: true }).click();
    // A cloud metadata address is refused when saved, under the field, saying how to allow it (#17 §3).
    await page.getByLabel("XNAT URL").fill("http://169.254.169.254/latest");
    await page.getByLabel("Project ID on that XNAT").fill("P1");
    await page.getByLabel("User (or alias token)").fill(ALICE.login);
    await page.getByLabel("Password (or token secret)").fill("not-the-password");
    await page.getByRole("button", { name: "Save target" }).click();
    await page.getByText(/does not connect to 169\.254\.169\.254: it is a cloud metadata service address\. .*ATRIUM_OUTBOUND_ALLOW/).waitFor();
    await shot("archive-tab-url-refused");
    expect(await db.prisma.projectArchiveTarget.findUnique({ where: { projectId: P } })).toBeNull();
    await page.getByLabel("XNAT URL").fill(xnat.url);
    await page.getByRole("button", { name: "Test connection" }).click();
    await page.getByTestId("connection-result").getByText(/refused the login/).waitFor();
    await shot("archive-tab-connection-refused");

    await page.getByLabel("Password (or token secret)").fill(ALICE.password);
    await page.getByRole("button", { name: "Test connection" }).click();
    await page.getByTestId("connection-result").getByText(/Connected to XNAT 1\.8\.10 as alice, owner of P1/).waitFor();
    await shot("archive-tab-connection-ok");
    await page.getByRole("button", { name: "Save target" }).click();
    await page.getByText("Archive target saved").waitFor();
    const t = await db.prisma.projectArchiveTarget.findUniqueOrThrow({ where: { projectId: P } });
    expect(t).toMatchObject({ kind: "xnat", xnatUrl: xnat.url, xnatProject: "P1", xnatUser: "alice" });
    expect(t.xnatSecretSealed).not.toContain(ALICE.password);
  }, 120_000);

  it("shows studies archived and failed with the reason and next retry; Retry archives the failed one", async () => {
    await db.prisma.projectIntake.create({ data: { projectId: P, stableAfterSeconds: 5 } });
    // XNAT answers 500 to the first study's upload and to every retry of the client.
    xnat.inject({ method: "POST", path: "/data/services/import", kind: "status", status: 500, times: 5 });
    await receive(CT_STUDY);
    await page.getByTestId("archive-row-failed").waitFor({ timeout: 90_000 });
    await receive(MR_STUDY);
    await page.getByTestId("archive-row-archived").waitFor({ timeout: 90_000 });
    await page.getByTestId("archive-error").getByText(/XNAT POST \/data\/services\/import failed \(500\)/).waitFor();
    await page.getByText(/next attempt in/).waitFor();
    expect(await page.getByTestId("count-failed").innerText()).toMatch(/1$/);
    expect(await page.getByTestId("count-archived").innerText()).toMatch(/1$/);
    await shot("archive-tab-failed-and-archived");

    // The retry is slow on the XNAT side, so the page shows it sending.
    xnat.inject({ method: "POST", path: "/data/services/import", kind: "slow", delayMs: 8_000, phase: "after" });
    await page.getByRole("button", { name: "Retry" }).click();
    await page.getByTestId("archive-row-sending").waitFor({ timeout: 30_000 });
    await page.getByText("0.2 MB sent, waiting for the archive to store it").waitFor({ timeout: 15_000 });
    await shot("archive-tab-sending");
    await page.getByTestId("archive-row-archived").nth(1).waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("count-archived").innerText()).toMatch(/2$/);
    expect(await page.getByTestId("count-failed").innerText()).toMatch(/0$/);
    await shot("archive-tab-all-archived");
    expect([...xnat.experiments.values()].filter((e) => e.project === "P1")).toHaveLength(2);
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "archive.retry" } })).toBe(1);
  }, 180_000);

  it("a compressed study the site's XNAT decompressed is archived, and its row says it was verified by SOP Instance UID and decompressed", async () => {
    await receive(["dicomParser__CT0012.not_fragmented_bot_rle.dcm"]);
    await page.getByTestId("archive-note").filter({ hasText: /this XNAT decompresses images on import: 1 of 1 series sent compressed is stored decompressed/ }).waitFor({ timeout: 90_000 });
    expect(await page.getByTestId("count-archived").innerText()).toMatch(/3$/);
    const note = await page.getByTestId("archive-note").filter({ hasText: /decompresses/ }).innerText();
    expect(note).toMatch(/^Verified by SOP Instance UID: the 1 instance \(1 series\) is on XNAT; /);
    await shot("archive-tab-verification-note");
    const row = await db.prisma.studyArchive.findFirstOrThrow({ where: { projectId: P, verificationNote: { contains: "decompresses" } } });
    expect(row.state).toBe("archived");
  }, 120_000);
});
