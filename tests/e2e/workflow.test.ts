// Issue #16 end to end, through the real `atrium start` (web and workers, BullMQ on Redis) and
// Chromium: an owner imports a workflow in the Workflow tab (a file with mistakes is refused with
// its lines, then a good one); two studies arrive through intake and are archived by the real
// workers; each experiment moves through the workflow — a registered program scores it
// (external_program, its __VALUES__ become a variable), a condition on the scans chooses the
// branch, and the CT one waits in review until an external system resolves the callback with the
// Study Governor v2 protocol (a wrong secret is 403, the right one moves it; again is 409). The
// board's counts move live; the experiment page shows the timeline. Screenshots go to
// ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { chooseOption, devSignIn, launchChromium } from "../helpers/browser";
import { CT_STUDY, MR_STUDY, SAMPLES } from "../xnat/helpers";
import { stageFile } from "../archive/helpers-intake";

const prefix = `atrium-workflow-e2e-${process.pid}`;
process.env.ATRIUM_QUEUE_PREFIX = prefix;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-workflow-e2e-"));
const bin = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-workflow-bin-"));
const handed = path.join(bin, "handed");
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (!shots) return;
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};
const P = "FLOW";

const BAD = `label: broken
states:
  - {label: received, transitions: [{destination: scoring}]}
  - label: scoring
    callbacks:
      - {label: py, function: python_function}
    transitions: [{destination: nowhere}]
`;

const GOOD = `# A Study Governor v8 file: score, branch on the scans, wait for an external review.
label: score_and_review
states:
  - {label: received, freetext: Archived in Atrium, transitions: [{destination: scoring, condition: "experiment.archived"}]}
  - label: scoring
    freetext: Scored by a registered program
    callbacks:
      - {label: score, function: external_program, variable_map: {score: /score},
         callback_arguments: {binary: score, args: [$EXPERIMENT]}}
    transitions:
      - {destination: review, condition: "callbacks['score'].result == 'success' and experiment.variables['score'] >= 5 and experiment.scans[0].modality == 'CT'"}
      - {destination: not_ct}
  - label: review
    freetext: Waiting for the external reviewer
    callbacks:
      - {label: external_review, function: external_program, wait_timeout: 1440,
         callback_arguments: {binary: notify, args: [$CALLBACK_EXECUTION, $CALLBACK_SECRET]}}
    transitions:
      - {destination: accepted, condition: "callbacks['external_review'].result == 'success'"}
      - {destination: not_ct}
  - {label: accepted, freetext: Reviewed and accepted}
  - {label: not_ct, freetext: Not a CT (or rejected)}
`;

function program(name: string, body: string) {
  const p = path.join(bin, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
}

beforeAll(async () => {
  db = await createTestDatabase();
  const score = program("score", `echo "scoring $1"\necho '__VALUES__ = {"score": 7, "scorer": "e2e"}'`);
  const notify = program("notify", `echo "$1 $2" > ${handed}\necho "reviewer notified"`);
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: prefix, ATRIUM_GOVERNOR_PROGRAMS: `score=${score},notify=${notify}` });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  const { closeQueues, getQueue } = await import("@/server/queues");
  for (const q of ["governor", "deid", "archive", "intake-stability", "forward"] as const) await getQueue(q).obliterate({ force: true }).catch(() => undefined);
  await closeQueues();
  await (await import("@/server/redis")).closeSharedRedis();
  await db?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(bin, { recursive: true, force: true });
});

describe("a project's workflow, end to end", () => {
  it("an owner imports a workflow: a file with mistakes is refused with its lines, a good one installed", async () => {
    await devSignIn(page, app.url, "owner@institute.test", "Olga Owner");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
    await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Workflow study", members: { create: { userId: user.id, role: "owner" } } } });
    await db.prisma.projectIntake.create({ data: { projectId: P, stableAfterSeconds: 3 } });

    await page.goto(`${app.url}/projects/${P}?tab=workflow`);
    await page.getByText("This project has no workflow yet").waitFor();
    await page.getByRole("button", { name: "Import workflow" }).click();
    await page.getByLabel("Workflow (YAML)").fill(BAD);
    await page.getByRole("button", { name: "Import", exact: true }).click();
    await page.getByText("Not imported: nothing was changed").waitFor();
    await page.getByText(/python_function runs arbitrary Python/).waitFor();
    expect(await page.getByText("line 6").count()).toBe(1);
    await shot("workflow-import-refused");
    expect(await db.prisma.governorWorkflow.count()).toBe(0);

    await page.getByLabel("Workflow (YAML)").fill(GOOD);
    await page.getByRole("button", { name: "Import", exact: true }).click();
    await page.getByText("Workflow imported").waitFor();
    await page.getByTestId("column-scoring").waitFor();
    await page.getByText("score_and_review", { exact: true }).first().waitFor();
    const wf = await db.prisma.governorWorkflow.findFirstOrThrow({ where: { projectId: P } });
    expect(wf).toMatchObject({ label: "score_and_review", version: 1, active: true, sourceFormat: "v8" });
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "governor.workflow.import", actorId: user.id } })).toBe(1);
    await shot("workflow-board-empty");
  }, 120_000);

  it("archived studies move through the workflow: the program's score and the scans choose the branch; the board follows live", async () => {
    const { queueDeid } = await import("@/server/intake/queue");
    for (const f of [...CT_STUDY, ...MR_STUDY]) await queueDeid((await stageFile(db.prisma, dataDir, P, path.join(SAMPLES, f))).id);
    // The CT study reaches review (waiting for the external reviewer), the MR one not_ct.
    await page.getByTestId("count-review").getByText("1", { exact: true }).waitFor({ timeout: 120_000 });
    await page.getByTestId("count-not_ct").getByText("1", { exact: true }).waitFor({ timeout: 60_000 });
    await page.getByTestId("column-review").getByText(/waiting for external_review \(waiting\)/).waitFor();
    await shot("workflow-board-live");
    const govs = await db.prisma.governorExperiment.findMany({ where: { projectId: P }, include: { variables: true, experiment: { select: { modalities: true, scans: { select: { modality: true } } } } } });
    expect(govs).toHaveLength(2);
    for (const g of govs) expect(g.variables.map((v) => [v.label, v.value])).toEqual([["score", 7]]);
    const ct = govs.find((g) => g.experiment.scans[0]?.modality === "CT")!;
    expect(ct.state).toBe("review");
    const history = await db.prisma.governorAction.findMany({ where: { govExperimentId: ct.id }, orderBy: { revision: "asc" } });
    expect(history.map((a) => `${a.fromState ?? ""}→${a.toState} (${a.cause})`)).toEqual(["→received (event:received)", "received→scoring (event:archived)", "scoring→review (callback:score)"]);
  }, 240_000);

  it("an external system resolves the waiting callback over the v2 protocol (403 wrong secret, 409 again); the page shows the timeline", async () => {
    const [execUrl, secret] = fs.readFileSync(handed, "utf8").trim().split(" ");
    const id = execUrl!.split("/").pop()!;
    const put = (body: unknown) => fetch(`${app.url}/api/v2/callback_executions/${id}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await put({ status: "finished", result: "success", secret_key: "0".repeat(256) })).status).toBe(403);
    const ok = await put({ status: "finished", result: "success", result_values: { reviewer: "R1" }, secret_key: secret });
    expect(ok.status).toBe(200);
    expect((await put({ status: "finished", result: "failed", secret_key: secret })).status).toBe(409);
    await page.getByTestId("count-accepted").getByText("1", { exact: true }).waitFor({ timeout: 30_000 });
    await page.getByTestId("count-review").getByText("0", { exact: true }).waitFor();
    await shot("workflow-board-accepted");

    await page.getByTestId("column-accepted").getByRole("link").first().click();
    await page.getByTestId("current-state").getByText("accepted").waitFor();
    await page.getByTestId("execution-score").getByText("success").waitFor();
    await page.getByTestId("execution-score").getByText(/"score":7/).waitFor();
    await page.getByTestId("execution-external_review").getByText("finished", { exact: true }).waitFor();
    await page.getByText("score = 7").waitFor();
    await page.getByText(/✓ → review if callbacks\['score'\]/).waitFor();
    await shot("workflow-experiment-timeline");
  }, 120_000);

  it("an owner forces a state with a reason (audited) and sees it in the history", async () => {
    await page.getByRole("button", { name: "Force a state…" }).click();
    await chooseOption(page, page.getByRole("dialog").getByLabel("State"), "review");
    await page.getByLabel("Reason").fill("second opinion requested");
    await page.getByRole("button", { name: "Force", exact: true }).click();
    await page.getByText("State forced").waitFor();
    await page.getByText("“second opinion requested”").waitFor();
    await page.getByTestId("current-state").getByText("review").waitFor();
    await shot("workflow-experiment-forced");
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "governor.transition", after: { path: ["cause"], equals: "manual" } } })).toBe(1);
  }, 60_000);
});

describe("a new workflow version while experiments are in flight", () => {
  it("an owner previews where each experiment lands, chooses for a state the new version lacks, and migrates them", async () => {
    const { importForProject } = await import("@/server/governor/ops");
    const v2 = GOOD.replaceAll("not_ct", "other").replace("Not a CT (or rejected)", "Anything else");
    const imported = await importForProject(db.prisma, P, v2, false);
    expect(imported).toMatchObject({ ok: true, workflow: { version: 2 } });

    await page.goto(`${app.url}/projects/${P}?tab=workflow`);
    await page.getByTestId("migration-alert").getByText("2 experiment(s) run on an earlier version").waitFor();
    await page.getByRole("button", { name: "Preview the migration…" }).click();
    const table = page.getByTestId("migration-preview");
    await table.getByText("keeps its state 'review'").waitFor();
    await table.getByText("enters the root 'received'").waitFor();
    await chooseOption(page, page.getByRole("combobox", { name: "Where experiments in not_ct of version 1 land" }), "other");
    await table.getByText("enters 'other' (chosen)").waitFor();
    await shot("workflow-migration-preview");
    await page.getByRole("button", { name: "Migrate 2 experiment(s)" }).click();
    await page.getByText("Experiments migrated").waitFor();
    await page.getByText("2 experiment(s) moved: 1 kept their state, 1 entered a state.").waitFor();
    await page.getByTestId("count-other").getByText("1", { exact: true }).waitFor({ timeout: 30_000 });
    await page.getByTestId("migration-alert").waitFor({ state: "detached" });
    await page.getByRole("dialog").waitFor({ state: "detached" });
    await shot("workflow-migrated");

    const govs = await db.prisma.governorExperiment.findMany({ where: { projectId: P }, select: { id: true, state: true, workflow: { select: { version: true } } } });
    expect(govs.map((g) => [g.state, g.workflow.version]).sort()).toEqual([["other", 2], ["review", 2]]);
    const other = govs.find((g) => g.state === "other")!;
    expect(await db.prisma.governorAction.count({ where: { govExperimentId: other.id, cause: "migration", fromState: "not_ct", toState: "other" } })).toBe(1);
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "governor.migrate" } })).toBe(2);
  }, 120_000);

  it("an owner downloads the study export: a row per visit with its state and the program's values", async () => {
    await page.getByRole("button", { name: "Study export" }).click();
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("menuitem", { name: "CSV" }).click()]);
    expect(download.suggestedFilename()).toMatch(/^FLOW-study-export-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = fs.readFileSync((await download.path())!, "utf8").trimEnd().split("\r\n");
    const header = csv[0]!.split(",");
    expect(header).toEqual(expect.arrayContaining(["subject", "experiment", "state", "var.score"]));
    const rows = csv.slice(1).map((l) => Object.fromEntries(l.split(",").map((c, i) => [header[i], c])));
    expect(rows.map((r) => r.state).sort()).toEqual(["other", "review"]);
    expect(rows.map((r) => r["var.score"])).toEqual(["7", "7"]);
    await page.getByText("2 visit(s) exported as CSV.").waitFor();
  }, 60_000);

  it("an owner declares the expected visits and scans: a mistake is shown by line, then each subject shows what is missing", async () => {
    await page.getByRole("button", { name: "Declare the protocol" }).click();
    const box = page.getByLabel("Protocol (YAML or JSON)");
    await box.fill("visits:\n  - label: baseline\n    scans:\n      - {label: CT, modality: CT, series: 1}\n");
    await page.getByRole("button", { name: "Save protocol" }).click();
    await page.getByText("Not saved: nothing was changed").waitFor();
    await page.getByText(/Unrecognized key: "series"/).waitFor();
    expect(await page.getByText("line 4", { exact: true }).count()).toBe(1);
    await box.fill("visits:\n  - label: baseline\n    scans:\n      - {label: CT, modality: CT}\n");
    await page.getByRole("button", { name: "Save protocol" }).click();
    await page.getByText("Protocol saved").waitFor();
    const summary = page.getByTestId("completeness-summary");
    await summary.getByRole("button", { name: "1 complete (baseline): show the subjects" }).waitFor();
    await summary.getByRole("button", { name: "1 incomplete (baseline): show the subjects" }).click();
    const subjects = page.getByTestId("completeness-subjects");
    await page.getByText("Subjects with a visit incomplete").waitFor();
    await subjects.locator("tbody tr").nth(1).waitFor({ state: "detached" });
    await subjects.getByText("missing: CT").waitFor();
    expect(await subjects.locator("tbody tr").count()).toBe(1);
    await shot("workflow-completeness");
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "governor.expected.save" } })).toBe(1);
  }, 60_000);
});
