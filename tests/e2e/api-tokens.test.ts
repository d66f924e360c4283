// API tokens in the portal and STOW-RS through the real `atrium start`: an owner creates a token
// in the Intake tab, copies the example curl command shown once, and that very command stores a
// DICOM file into the project; after revoking the token (with confirmation) the command is refused.
// Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import { SAMPLES_DIR } from "@/lib/samples";
import { readPart10Info } from "@/lib/dicom-net/part10";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-tokens-e2e-"));
const workDir = mkdtempSync(path.join(os.tmpdir(), "atrium-tokens-curl-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};

function bash(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("bash", ["-c", script], { cwd: workDir, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: `atrium-tokens-${process.pid}` });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  copyFileSync(path.join(SAMPLES_DIR, "dicomParser__ctimage.dcm"), path.join(workDir, "image.dcm"));
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(workDir, { recursive: true, force: true });
});

describe("API tokens in the portal", () => {
  let token = "";
  let curl = "";

  it("an owner creates a token and sees it once, with example commands", async () => {
    await devSignIn(page, app.url, "owner@institute.test", "Olga Owner");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
    await db.prisma.project.create({ data: { id: "TOKENS", idLower: "tokens", name: "Token project", members: { create: { userId: user.id, role: "owner" } } } });

    await page.goto(`${app.url}/projects/TOKENS?tab=intake`);
    await page.getByText("No API tokens yet").waitFor();
    await page.getByLabel("Token name").fill("CT scanner 2");
    await page.getByLabel("Read (DICOMweb)").check();
    await page.getByRole("button", { name: "Create token" }).click();
    const box = page.getByTestId("new-token");
    await box.getByText("Copy this token now").waitFor();
    const codes = box.locator("pre");
    token = (await codes.nth(0).innerText()).trim();
    curl = await codes.nth(1).innerText();
    expect(token).toMatch(/^atr_[A-Za-z0-9_-]{43}$/);
    expect(curl).toContain(`${app.url}/dicomweb/studies`);
    expect(await codes.nth(2).innerText()).toContain('"Authorization": "Bearer atr_');
    await shot("api-tokens-created");

    const row = await db.prisma.projectApiToken.findFirstOrThrow({ where: { projectId: "TOKENS" } });
    expect(row.scopes).toEqual(["read", "stow"]);
    expect(row.prefix).toBe(token.slice(0, 12));
    expect(JSON.stringify(row)).not.toContain(token);
  }, 60_000);

  it("the example curl command stores a DICOM file into the project through the real server", async () => {
    const r = await bash(curl);
    expect(r.code, r.stderr).toBe(0);
    const info = await readPart10Info(path.join(workDir, "image.dcm"));
    const body = JSON.parse(r.stdout) as Record<string, { Value?: Array<Record<string, { Value?: string[] }>> }>;
    expect(body["00081199"]!.Value![0]!["00081155"]!.Value).toEqual([info.sopInstanceUid]);
    const rows = await db.prisma.receivedInstance.findMany({ where: { projectId: "TOKENS", channel: "stow" } });
    expect(rows.map((x) => x.sopInstanceUid)).toEqual([info.sopInstanceUid]);
    // Then the workers de-identify it.
    let status = rows[0]!.status;
    for (let i = 0; i < 150 && status === "received"; i++) {
      await new Promise((res) => setTimeout(res, 200));
      status = (await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: rows[0]!.id } })).status;
    }
    expect(status).toBe("deidentified");
    // The server's log has neither the token nor the instance's UIDs.
    expect(app.output()).not.toContain(token);
    expect(app.output()).not.toContain(info.sopInstanceUid!);
  }, 60_000);

  it("lists the token by its prefix with its last use, and revokes it after confirmation", async () => {
    await page.getByRole("button", { name: "I have copied it" }).click();
    await page.reload();
    await page.getByText("CT scanner 2").waitFor();
    expect(await page.getByText(token).count()).toBe(0);
    await page.getByText(`${token.slice(0, 12)}…`).waitFor();
    expect(await page.getByText("never").count()).toBe(0); // last used: a date now
    await shot("api-tokens-list");

    await page.getByRole("button", { name: "Revoke CT scanner 2" }).click();
    await page.getByText("Revoke API token?").waitFor();
    await shot("api-tokens-revoke-confirm");
    await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
    await page.getByText("revoked", { exact: true }).waitFor();
    await shot("api-tokens-revoked");
    expect((await db.prisma.projectApiToken.findFirstOrThrow({ where: { projectId: "TOKENS" } })).revokedAt).not.toBeNull();

    const r = await bash(curl.replace("curl -sS", "curl -sS -w '\\n%{http_code}'"));
    expect(r.stdout.trim().split("\n").pop()).toBe("401");
    expect(r.stdout).toMatch(/revoked/);
    expect(await db.prisma.receivedInstance.count({ where: { projectId: "TOKENS" } })).toBe(1);
  }, 60_000);
});
