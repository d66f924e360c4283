// Issue #16's end-to-end case, through the real `atrium start` (web and workers: de-identification,
// archive, governor, compute) and Chromium: the shipped default workflow (a Study Governor v8 file)
// in a project; samples sent by DCMTK's storescu are received, de-identified and archived; the
// governor starts the built-in default_processing pipeline (registered on first use) on each experiment; its success creates a QC
// task from the built-in default_qc template; a reader opens it from /tasks and answers "No"; the
// answer resolves the callback and the experiment takes the QC-failed branch. Screenshots go to
// ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { freePort, startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import { waitFor } from "../helpers/wait";
import { SAMPLES_DIR } from "@/lib/samples";
import { DEFAULT_WORKFLOW_YAML } from "@/lib/governor";
import { MR_STUDY } from "../xnat/helpers";

const prefix = `atrium-default-workflow-e2e-${process.pid}`;
process.env.ATRIUM_QUEUE_PREFIX = prefix;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
let dicomPort: number;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-default-workflow-e2e-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (!shots) return;
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};
const P = "DEFAULTWF";
const AE = "DEFAULTWF";
// One MR study of six slices (one experiment).
const MR = MR_STUDY;

beforeAll(async () => {
  db = await createTestDatabase();
  dicomPort = await freePort();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: prefix, ATRIUM_DICOM_PORT: String(dicomPort) });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  const { closeQueues, getQueue } = await import("@/server/queues");
  for (const q of ["governor", "deid", "archive", "intake-stability", "compute"] as const) await getQueue(q).obliterate({ force: true }).catch(() => undefined);
  await closeQueues();
  await (await import("@/server/redis")).closeSharedRedis();
  await db?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("the default workflow, end to end", () => {
  it("storescu → archive → default_processing → QC task; a failing QC answer takes the QC-failed branch", async () => {
    await devSignIn(page, app.url, "owner@institute.test", "Olga Owner");
    const owner = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
    await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Default workflow", members: { create: { userId: owner.id, role: "owner" } } } });
    await db.prisma.projectIntake.create({ data: { projectId: P, stableAfterSeconds: 3 } });
    await db.prisma.aeRoute.create({ data: { aeTitle: AE, projectId: P, allowedCallingAes: [], allowedAddresses: [] } });
    const { importForProject } = await import("@/server/governor/ops");
    expect(await importForProject(db.prisma, P, DEFAULT_WORKFLOW_YAML, false)).toMatchObject({ ok: true, workflow: { label: "atrium_default", format: "v8" } });

    execFileSync("storescu", ["-R", "-aec", AE, "-aet", "SCANNER", "127.0.0.1", String(dicomPort), ...MR.map((f) => path.join(SAMPLES_DIR, f))], { env: { ...process.env, TCP_NODELAY: "1" }, stdio: "pipe" });

    // received → archived (default_processing runs) → processed → qc (the task is made).
    const gov = await waitFor(
      "the experiment to reach the QC state",
      async () => {
        const g = await db.prisma.governorExperiment.findFirst({ where: { projectId: P }, select: { id: true, state: true, lastError: true } });
        return g?.state === "qc" ? g : null;
      },
      { timeoutMs: 240_000, intervalMs: 500, detail: async () => JSON.stringify(await db.prisma.governorExperiment.findMany({ where: { projectId: P }, select: { state: true, lastError: true, waitingFor: true } })) },
    );
    const history = await db.prisma.governorAction.findMany({ where: { govExperimentId: gov.id }, orderBy: { revision: "asc" }, include: { executions: true } });
    expect(history.map((a) => a.toState)).toEqual(["received", "archived", "processed", "qc"]);
    const processed = history[1]!.executions[0]!;
    expect(processed).toMatchObject({ callback: "process", function: "fastr", status: "finished", result: "success" });
    const runs = await db.prisma.pipelineRun.findMany({ where: { projectId: P }, select: { pipelineId: true, state: true, startedBy: true } });
    expect(runs).toEqual([{ pipelineId: "default_processing", state: "succeeded", startedBy: `governor:${processed.id}` }]);
    // The built-in default_processing was registered on first use and stored what the series holds.
    expect((await db.prisma.archiveValue.findFirstOrThrow({ where: { projectId: P, name: "instances" } })).value).toBe(6);

    await page.goto(`${app.url}/tasks`);
    const card = page.getByTestId("queue-Workflow: default_qc");
    await card.getByText("1 to do").waitFor({ timeout: 30_000 });
    await card.getByRole("button", { name: "Start next" }).click();
    await page.waitForURL(/\/tasks\/[a-z0-9]+$/);
    await page.getByText("Does the session pass quality control?").waitFor();
    // The task shows the experiment's series: all six images load in the viewer.
    await page.waitForFunction(
      () => {
        const v = document.querySelector<HTMLElement>('[data-testid="viewport-main"][data-total]');
        return v !== null && Number(v.dataset.total) === 6 && Number(v.dataset.loaded) >= 6 && v.querySelector("[data-first-image]") !== null;
      },
      undefined,
      { timeout: 60_000 },
    );
    await page.getByRole("radio", { name: "No" }).check();
    await page.getByLabel("Comment").fill("motion artefacts");
    await shot("default-workflow-qc-task");
    await page.getByRole("button", { name: "Submit" }).click();

    await waitFor("the QC-failed branch", async () => (await db.prisma.governorExperiment.findUniqueOrThrow({ where: { id: gov.id } })).state === "qc_failed", { timeoutMs: 30_000, intervalMs: 200 });
    const qc = await db.prisma.governorCallbackExecution.findFirstOrThrow({ where: { callback: "qc_task", action: { govExperimentId: gov.id } } });
    expect(qc).toMatchObject({ status: "finished", result: "success" });
    expect(qc.resultValues).toMatchObject({ qc_passed: false, comment: "motion artefacts" });
    const vars = await db.prisma.governorVariable.findMany({ where: { govExperimentId: gov.id } });
    expect(vars.find((v) => v.label === "qc_passed")?.value).toBe(false);

    const exp = await db.prisma.archiveExperiment.findFirstOrThrow({ where: { projectId: P } });
    await page.goto(`${app.url}/projects/${P}/workflow/${exp.id}`);
    await page.getByTestId("current-state").getByText("qc_failed").waitFor();
    await page.getByTestId("execution-qc_task").getByText("success").waitFor();
    // The case's chain: from reception through the run and the task to the end.
    const chain = page.getByTestId("case-chain");
    await chain.getByTestId("chain-done").getByText("the workflow ended in 'qc_failed'").waitFor();
    for (const kind of ["received", "deidentified", "archived", "run", "task"]) expect(await chain.getByTestId(`chain-${kind}`).count(), kind).toBe(1);
    await chain.getByRole("link", { name: "Pipeline default_processing 1" }).waitFor();
    await chain.getByRole("link", { name: /^Task #\d+ \(default_qc\)$/ }).waitFor();
    await shot("default-workflow-qc-failed");
  }, 420_000);
});
