// The Pipelines tab and the run page through the real `atrium start` and Chromium: a member starts
// dicom-stats on every archived experiment (made from the shared samples), the run succeeds in the
// runs list, the run page draws the DAG (elkjs) with the jobs by state, and a job's log opens.
// Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import { seedSubject } from "../archive/seed";
import { SAMPLES_DIR } from "@/lib/samples";
import { registerExamples } from "@/server/pipelines/registry";
import { pipelineSchema, toolSchema } from "@/lib/pipelines/schema";

const prefix = `atrium-pipelines-e2e-${process.pid}`;
process.env.ATRIUM_QUEUE_PREFIX = prefix;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-pipelines-e2e-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (!shots) return;
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};
const P = "PIPES";

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

describe("the Pipelines tab", () => {
  it("a member runs dicom-stats on every experiment and follows it to the run page", async () => {
    await devSignIn(page, app.url, "member@institute.test", "Mia Member");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "member@institute.test" } });
    await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Pipelines study", members: { create: { userId: user.id, role: "member" } } } });
    const sample = (f: string) => readFileSync(path.join(SAMPLES_DIR, f));
    await seedSubject(db.prisma, dataDir, P, "SUBJ01", [{ label: "SUBJ01_A", scans: [{ seriesNumber: 1, modality: "CT", instances: ["dwv__osirix-toutatix-100.dcm", "dwv__osirix-toutatix-101.dcm"].map(sample) }, { seriesNumber: 2, modality: "CT", instances: [sample("highdicom__ct_image.dcm")] }] }]);
    await registerExamples(db.prisma, P);

    await page.goto(`${app.url}/projects/${P}?tab=pipelines`);
    await page.getByText("dicom-stats", { exact: true }).waitFor();
    await page.getByText("No runs yet.", { exact: true }).waitFor();
    await shot("pipelines-tab");
    await page.getByRole("row", { name: /dicom-stats/ }).getByRole("button", { name: "Run on all experiments" }).click();
    await page.getByText("Run started").waitFor();
    await page.getByText("succeeded", { exact: true }).waitFor({ timeout: 120_000 });
    await shot("pipelines-tab-run-succeeded");

    await page.getByRole("link", { name: /^r[0-9a-f]{9}$/ }).click();
    await page.getByRole("img", { name: "Pipeline graph" }).waitFor();
    for (const n of ["node:convert", "node:stats", "source:series", "sink:nifti"]) expect(await page.locator(`[data-node="${n}"]`).count()).toBe(1);
    expect(await page.locator('[data-node="node:stats"]').textContent()).toMatch(/2 succeeded/);
    expect(await page.getByRole("row", { name: /succeeded/ }).count()).toBe(4);
    await shot("pipeline-run-page");
    await page.getByRole("row", { name: /convert/ }).first().click();
    await page.getByText(/Tool dcm2niix@1\.0\.20220720 · local on/).waitFor();
    await page.getByText(/Chris Rorden's dcm2niiX/).waitFor();
    // The job has ended: the stream says so, and the whole log downloads as a file.
    await page.getByTestId("log-live").getByText("complete").waitFor();
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download whole" }).click()]);
    expect(download.suggestedFilename()).toMatch(/^convert_.*\.log$/);
    expect(readFileSync((await download.path())!, "utf8")).toContain("Chris Rorden's dcm2niiX");
    await shot("pipeline-job-log");

    // The results are in Browse, on the experiment, with the run that stored them and the case's chain.
    const exp = await db.prisma.archiveExperiment.findFirstOrThrow({ where: { projectId: P, label: "SUBJ01_A" } });
    await page.goto(`${app.url}/projects/${P}?tab=browse&subject=SUBJ01&experiment=${exp.id}`);
    const values = page.getByTestId("result-values");
    await values.getByRole("row", { name: /^mean scan 1/ }).waitFor({ timeout: 30_000 });
    expect(await values.getByRole("row", { name: /^mean scan/ }).count()).toBe(2);
    expect(await values.getByRole("link", { name: "dicom-stats 1" }).count()).toBeGreaterThan(0);
    await page.getByTestId("result-resources").getByText("NIFTI").first().waitFor();
    await page.getByTestId("case-chain").getByRole("link", { name: "Pipeline dicom-stats 1" }).waitFor();
    await shot("browse-experiment-results");
  }, 240_000);

  it("the run page follows a run live: a failing job's log streams, the run fails, and re-running the failed jobs makes it succeed, all without a reload", async () => {
    // A tool that writes a few lines a second apart, then fails unless the marker file exists.
    const marker = path.join(dataDir, "flaky-marker");
    const tool = toolSchema.parse({
      kind: "tool", id: "flaky", version: "1",
      command: ["sh", "-c", `echo "reading {dicom}"; for i in 1 2 3 4; do echo "step $i of 4"; sleep 1; done; test -f ${marker} || echo "marker missing: failing on purpose" >&2; test -f ${marker} || exit 3; echo "all steps done"`],
      inputs: [{ id: "dicom", type: "dicom-series" }],
      requires: { binaries: ["sh"] },
    });
    await db.prisma.pipelineTool.create({ data: { scope: P, projectId: P, toolId: tool.id, version: tool.version, definition: tool as object, sourceText: "e2e" } });
    const pipe = pipelineSchema.parse({ kind: "pipeline", id: "flaky-pipe", version: "1", sources: { series: { from: "scans" } }, nodes: { flaky: { tool: "flaky", in: { dicom: "series" } } } });
    await db.prisma.pipeline.create({ data: { scope: P, projectId: P, pipelineId: pipe.id, version: pipe.version, definition: pipe as object, sourceText: "e2e", toolVersions: { flaky: "1" } } });

    await page.goto(`${app.url}/projects/${P}?tab=pipelines`);
    await page.getByRole("row", { name: /flaky-pipe/ }).getByRole("button", { name: "Run on all experiments" }).click();
    await page.getByText("Run started").waitFor();
    const run = await db.prisma.pipelineRun.findFirstOrThrow({ where: { projectId: P, pipelineId: "flaky-pipe" } });
    await page.goto(`${app.url}/projects/${P}/runs/${run.id}`);
    // Marks this page: a reload would lose it.
    await page.evaluate(() => ((window as unknown as { liveMark: number }).liveMark = 1));
    const runState = page.getByTestId("run-state");
    await runState.getByText("running").waitFor({ timeout: 60_000 });
    await page.getByRole("row", { name: /flaky.*running/ }).first().waitFor({ timeout: 30_000 });
    await shot("pipeline-run-live-running");
    await page.getByRole("row", { name: /flaky.*running/ }).first().click();
    const log = page.getByTestId("job-log");
    await log.getByText(/step 1 of 4/).waitFor({ timeout: 30_000 });
    await page.getByTestId("log-live").getByText("live").waitFor();
    await log.getByText(/step 4 of 4/).waitFor({ timeout: 30_000 });
    await log.getByText(/failing on purpose/).waitFor({ timeout: 30_000 });
    await page.getByTestId("log-live").getByText("complete").waitFor();
    await shot("pipeline-failing-job-log");
    await page.keyboard.press("Escape");
    await runState.getByText("failed").waitFor({ timeout: 60_000 });
    expect(await page.getByRole("row", { name: /flaky.*failed/ }).count()).toBe(2);
    await page.getByText(/code 3/).first().waitFor();
    await shot("pipeline-run-failed");

    writeFileSync(marker, "present");
    await page.getByRole("button", { name: "Re-run failed jobs" }).click();
    await runState.getByText(/queued|running/).waitFor({ timeout: 30_000 });
    await runState.getByText("succeeded").waitFor({ timeout: 90_000 });
    expect(await page.getByRole("row", { name: /flaky.*succeeded/ }).count()).toBe(2);
    expect(await page.evaluate(() => (window as unknown as { liveMark?: number }).liveMark)).toBe(1);
    await shot("pipeline-run-retried");
    expect((await db.prisma.pipelineRun.findUniqueOrThrow({ where: { id: run.id } })).state).toBe("succeeded");
  }, 240_000);

  it("an owner registers a pipeline from the portal: a mistake comes back at its line, a good one is listed", async () => {
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await devSignIn(page, app.url, "owner@institute.test", "Oona Owner");
    const owner = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
    await db.prisma.projectMember.create({ data: { projectId: P, userId: owner.id, role: "owner" } });
    await page.goto(`${app.url}/projects/${P}?tab=pipelines`);
    await page.getByRole("button", { name: "Register a tool or pipeline…" }).click();
    const box = page.getByLabel("Definition");
    const good = await box.inputValue();
    await box.fill(good.replace("tool: nifti-stats", "tool: no-such-tool"));
    await page.getByRole("button", { name: "Register", exact: true }).click();
    const problems = page.getByTestId("definition-problems");
    await problems.getByText("Not registered: nothing was changed").waitFor();
    await problems.getByText(/no-such-tool/).first().waitFor();
    expect(await problems.getByText(/^line \d+$/).count()).toBeGreaterThan(0);
    await shot("pipeline-register-refused");
    await box.fill(good);
    await page.getByRole("button", { name: "Register", exact: true }).click();
    await page.getByText("Pipeline registered").waitFor();
    await page.getByRole("row", { name: /my-pipeline/ }).waitFor();
    expect(await db.prisma.pipeline.count({ where: { projectId: P, pipelineId: "my-pipeline" } })).toBe(1);
    // Editing starts from the registered text.
    await page.getByRole("row", { name: /my-pipeline/ }).getByRole("button", { name: "Edit…" }).click();
    expect(await page.getByLabel("Definition").inputValue()).toBe(good);
  }, 120_000);
});
