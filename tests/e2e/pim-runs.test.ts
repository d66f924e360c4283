// A fastr run reported from outside, end to end: an operator creates a "report" token with
// `atrium token create`, a replay of fastr's PIM reporter (Python requests, credentials in pim_host's
// URL, POST /pim/api/runs/ with the slash) reports a run to the real `atrium start`, and a
// collaborator watches the Runs tab and the run page move through states without reloading,
// then opens the failed job's output. Screenshots go to ATRIUM_SCREENSHOTS when set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { ROOT, startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import { batches, registration, RUN_ID } from "../pim/fastr-reporter";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
let reporter: ChildProcess | null = null;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-pim-e2e-"));
const workDir = mkdtempSync(path.join(os.tmpdir(), "atrium-pim-replay-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: `atrium-pim-e2e-${process.pid}` });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
}, 300_000);

afterAll(async () => {
  reporter?.kill();
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(workDir, { recursive: true, force: true });
});

describe("runs reported by fastr", () => {
  it("a replayed fastr run appears, moves through its states live, and its failed job shows why", async () => {
    await devSignIn(page, app.url, "carla@institute.test", "Carla Collaborator");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "carla@institute.test" } });
    await db.prisma.project.create({ data: { id: "FASTR", idLower: "fastr", name: "fastr runs", members: { create: { userId: user.id, role: "collaborator" } } } });

    const created = await promisify(execFile)(process.execPath, [path.join(ROOT, "bin", "atrium.mjs"), "token", "create", "--project", "FASTR", "--scopes", "report", "--name", "cluster"], {
      env: { ...process.env, DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir },
    });
    const token = created.stdout.trim();
    expect(token).toMatch(/^atr_/);

    await page.goto(`${app.url}/projects/FASTR?tab=runs`);
    await page.getByText("No reported runs yet.").waitFor();

    const payload = path.join(workDir, "run.json");
    writeFileSync(payload, JSON.stringify({ registration: registration(), batches: batches() }));
    const pimHost = `${app.url.replace("://", `://fastr:${token}@`)}/pim`;
    let output = "";
    reporter = spawn("/usr/bin/python3", [path.join(ROOT, "tests/pim/replay_reporter.py"), pimHost, payload, "4"], { stdio: ["ignore", "pipe", "pipe"] });
    reporter.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    reporter.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number>((resolve) => reporter!.on("exit", (code) => resolve(code ?? -1)));

    // The list picks the run up by itself (no reload).
    await page.getByRole("link", { name: RUN_ID }).waitFor({ timeout: 30_000 });
    await page.getByRole("link", { name: RUN_ID }).click();
    await page.getByTestId("run-state").filter({ hasText: /registered|running/ }).waitFor({ timeout: 30_000 });
    await page.getByTestId("run-state").filter({ hasText: "running" }).waitFor({ timeout: 30_000 });
    await page.locator("[data-node='root/add']").waitFor();
    await shot("pim-run-running");
    await page.getByTestId("run-state").filter({ hasText: "failed" }).waitFor({ timeout: 60_000 });
    expect(await exited, output).toBe(0);
    expect(output).toContain("registered 201");
    await page.getByText("add (sample s2): FastrExecutionError: AddInt exited with 1").waitFor();
    // The graph colours nodes by their jobs: add has one success and one failure.
    expect(await page.locator("[data-node='root/add'] rect[data-state]").evaluateAll((rs) => rs.map((r) => r.getAttribute("data-state")))).toEqual(["failed", "success"]);
    await page.getByText("Network run finished").waitFor();
    await shot("pim-run-failed");

    await page.locator(`[data-job$='add___s2']`).click();
    await page.getByTestId("job-stderr").filter({ hasText: "right operand missing" }).waitFor();
    await page.getByText("python addint.py --left 2").waitFor();
    await shot("pim-job-failed");

    await page.goto(`${app.url}/projects/FASTR?tab=runs`);
    const row = page.getByRole("row").filter({ hasText: RUN_ID });
    await row.getByText("failed", { exact: true }).waitFor();
    await row.getByText("1 failed · 4 success · 1 cancelled").waitFor();
    await shot("pim-runs-list");
  }, 240_000);
});
