// The task page (issues #14, #15) through the real `atrium start` and Chromium with SwiftShader
// WebGL: a reader finds the queue on /tasks, takes the next task, the viewer draws the matched MR
// series (real canvas pixels), they draw a length and answer; a submit with a missing required
// answer is refused at the field; the draft survives closing the tab; submit stores the result with
// its annotation and opens the next task. A task whose experiment lacks the required scan says
// "cannot be done: no T1-weighted series". The owner's Tasks tab shows the group's progress.
// Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { CHROMIUM, devSignIn } from "../helpers/browser";
import { SAMPLES_DIR } from "@/lib/samples";
import { blobStoreIn, seedSubject, type SeededExperiment } from "../archive/seed";
import { readMeasurementReport } from "@/lib/tasks/sr";
import { createGroup, saveTemplate, startNext, submit } from "@/server/tasks/ops";
import { parseTemplateOrThrow } from "@/lib/tasks/parse";
import { toTaskAnnotations } from "@/lib/tasks/viewer-map";
import { sourceImageOf } from "@/lib/tasks/source-image";
import type { Measurement } from "@/lib/viewer/viewer";
import { VIEWER_ASSETS_FILE } from "@/components/viewer/names";
import { gzipSync } from "node:zlib";
import { labelVolumeOf } from "../helpers/nifti";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let reader: BrowserContext;
let page: Page;
let exps: SeededExperiment[];
let groupId: string;
let templateId = "";
let ownerId = "";
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-tasks-e2e-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (p: Page, name: string) => {
  if (shots) await p.screenshot({ path: `${shots}/${name}.png` });
};
const sample = (name: string) => readFileSync(path.join(SAMPLES_DIR, name));

const TEMPLATE = `schemaVersion: 1
title: T1 quality control
instructions: { markdown: "Scroll through the T1 series and rate it." }
estimatedMinutes: 2
scans:
  t1:
    label: T1-weighted series
    rules:
      - { attribute: modality, equals: MR, required: true }
      - { attribute: numberOfSlices, min: 2, weight: 2 }
contexts:
  - id: qc
    title: Quality
    layout: { grid: 1x1, viewports: [{ id: main, scan: t1, window: auto }] }
    tools: [{ type: length, hotkey: l }]
    hotkeys: { s: save }
    form:
      - id: usable
        type: single
        label: Is the scan usable?
        required: true
        options: [{ value: "yes", label: Usable }, { value: "no", label: Unusable }]
      - id: reason
        type: multiple
        label: What is wrong?
        required: true
        showIf: { question: usable, equals: "no" }
        options: [{ value: motion, label: Motion }, { value: artefact, label: Artefact }]
      - { id: quality, type: likert, label: Overall image quality, points: 5, minLabel: poor, maxLabel: excellent }
`;

async function canvasInk(p: Page): Promise<number> {
  return p.evaluate(() => {
    const c = document.querySelector<HTMLCanvasElement>('[data-viewport-element="main"] canvas');
    const d = c?.getContext("2d")?.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    if (d) for (let i = 0; i < d.length; i += 4) if (d[i]! > 8 || d[i + 1]! > 8 || d[i + 2]! > 8) n++;
    return n;
  });
}

async function settled(p: Page, timeout = 60_000) {
  await p.waitForFunction(
    () => {
      const vps = [...document.querySelectorAll<HTMLElement>('[data-testid^="viewport-"][data-total]')];
      return vps.length > 0 && vps.every((v) => v.querySelector('[data-testid="viewport-message"]') || (Number(v.dataset.total) > 0 && v.querySelector<HTMLElement>("[data-first-image]") && Number(v.dataset.loaded) >= Number(v.dataset.total)));
    },
    undefined,
    { timeout },
  );
  await p.waitForTimeout(300);
}

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: `atrium-tasks-${process.pid}` });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-quic"],
  });
  reader = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await reader.newPage();
  page.on("pageerror", (e) => console.error("pageerror:", e.message));
  await devSignIn(page, app.url, "reader@institute.test", "Rita Reader");
  const owner = await db.prisma.user.create({ data: { email: "owner@institute.test", name: "Olga Owner" } });
  const r = await db.prisma.user.findUniqueOrThrow({ where: { email: "reader@institute.test" } });
  await db.prisma.project.create({ data: { id: "READS", idLower: "reads", name: "Reads", members: { create: [{ userId: owner.id, role: "owner" }, { userId: r.id, role: "member" }] } } });
  const brain = ["131", "275", "419", "563", "707", "851"].map((n) => sample(`dwv__bbmri-53323${n}.dcm`));
  exps = await seedSubject(db.prisma, dataDir, "READS", "PSEUDO_0042", [
    { label: "PSEUDO_0042_MR1", description: "MR", scans: [{ seriesNumber: 2, modality: "MR", description: "Brain stack", instances: brain }] },
    { label: "PSEUDO_0042_MR2", description: "MR", scans: [{ seriesNumber: 3, modality: "MR", description: "Brain stack", instances: brain }] },
    { label: "PSEUDO_0042_CT", description: "CT", scans: [{ seriesNumber: 1, modality: "CT", description: "CT small", instances: [sample("pydicom__CT_small.dcm")] }] },
  ]);
  const t = await saveTemplate(db.prisma, "READS", owner.id, "t1-qc", TEMPLATE);
  templateId = t.templateId;
  ownerId = owner.id;
  groupId = (await createGroup(db.prisma, "READS", owner.id, { label: "Baseline QC", templateId: t.templateId, experimentIds: exps.map((e) => e.id), readersPerCase: 1, distribution: "pool", pool: [] })).groupId;
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("task page", () => {
  let firstTask = "";

  it("a reader takes the next task from /tasks; the viewer draws the matched MR series", async () => {
    const prefetched: string[] = [];
    const onPrefetch = (r: { url: () => string }) => prefetched.push(new URL(r.url()).pathname);
    page.on("request", onPrefetch);
    await page.goto(`${app.url}/tasks`);
    await page.waitForTimeout(1000);
    page.off("request", onPrefetch);
    // The queue page has the browser fetch the viewer's code and frame fetcher ahead of a task (as the build recorded them).
    const assets = JSON.parse(readFileSync(path.join(import.meta.dirname, "..", "..", ".next", VIEWER_ASSETS_FILE), "utf8")) as { frameFetcher: string; viewerScripts: string[] };
    expect(assets.viewerScripts.length).toBeGreaterThan(0);
    const hinted = await page.evaluate(() => [...document.querySelectorAll<HTMLLinkElement>('link[rel="prefetch"]')].map((l) => new URL(l.href).pathname));
    expect(hinted.sort()).toEqual([assets.frameFetcher, ...assets.viewerScripts].sort());
    expect(prefetched.filter((u) => hinted.includes(u)).sort()).toEqual(hinted.sort());
    await shot(page, "tasks-queues-initial");
    const card = page.getByTestId("queue-Baseline QC");
    await expect.poll(() => card.getByTestId("queue-open").textContent(), { timeout: 20_000 }).toBe("2 to do");
    await shot(page, "tasks-queues");
    await card.getByRole("button", { name: "Start next" }).click();
    await page.waitForURL(/\/tasks\/[a-z0-9]+$/);
    firstTask = page.url().split("/").pop()!;
    await settled(page);
    expect(await canvasInk(page)).toBeGreaterThan(1000);
    expect(await page.getByTestId("task-state").textContent()).toBe("locked");
    const text = await page.getByTestId("viewer").innerText();
    expect(text).toContain("PSEUDO_0042");
  }, 120_000);

  it("a length and answers; a missing required answer is refused at its field; the draft survives closing the tab", async () => {
    await page.keyboard.press("l");
    const box = (await page.getByTestId("viewport-main").boundingBox())!;
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    await page.mouse.move(cx - 60, cy - 30);
    await page.mouse.down();
    await page.mouse.move(cx, cy, { steps: 6 });
    await page.mouse.move(cx + 60, cy + 30, { steps: 6 });
    await page.mouse.up();
    await page.getByLabel("Unusable").check();
    await page.getByRole("radio", { name: "4" }).check({ force: true }).catch(async () => page.getByText("4", { exact: true }).click());
    await page.keyboard.press("Control+Enter");
    await expect.poll(() => page.getByTestId("form-error").textContent(), { timeout: 20_000 }).toContain('"What is wrong?" is required');
    expect(await page.locator('[data-question="reason"]').innerText()).toContain('"What is wrong?" is required');
    await shot(page, "task-refused");
    await page.getByLabel("Motion").check();
    await page.keyboard.press("Control+s");
    await expect.poll(async () => (await db.prisma.taskDraft.findFirst({ where: { taskId: firstTask } }))?.answers, { timeout: 20_000 }).toMatchObject({ usable: "no", reason: ["motion"] });
    await page.close();
    // A new tab on the same task finds the answers and the length again.
    page = await reader.newPage();
    const asked: string[] = [];
    page.on("request", (r) => asked.push(r.url()));
    const html = await (await page.goto(`${app.url}/tasks/${firstTask}`))!.text();
    await settled(page);
    // Opened directly, the page's HTML shows the task with the series' first image and starts the
    // frame fetcher itself: the metadata and the stack's pixel data once each, no frame on its own.
    const series = (await db.prisma.task.findUniqueOrThrow({ where: { id: firstTask } })).resolution as { scans: { t1: { seriesInstanceUid: string } } };
    const t1 = series.scans.t1.seriesInstanceUid;
    expect(html).toContain(`/series/${t1}/rendered?image=first`);
    expect(html).toContain("T1 quality control");
    expect(await page.evaluate(() => Boolean((window as unknown as { __atriumEarly?: { worker: unknown } }).__atriumEarly?.worker))).toBe(true);
    expect(asked.filter((u) => u.endsWith(`/series/${t1}/metadata`))).toHaveLength(1);
    expect(asked.filter((u) => u.endsWith(`/series/${t1}/pixeldata`))).toHaveLength(1);
    expect(asked.filter((u) => u.includes("/frames/"))).toEqual([]);
    expect(await page.getByTestId("viewport-main").locator("[data-viewport-element]").getAttribute("data-decoded-ahead")).toBe("6");
    expect(await page.getByLabel("Unusable").isChecked()).toBe(true);
    expect(await page.getByLabel("Motion").isChecked()).toBe(true);
    const draft = await db.prisma.taskDraft.findFirstOrThrow({ where: { taskId: firstTask } });
    expect((draft.annotations as { tool: string }[]).map((a) => a.tool)).toEqual(["length"]);
    await expect.poll(() => page.getByTestId("annotation-rules").count(), { timeout: 20_000 }).toBe(0); // no annotation rules in this template
    await shot(page, "task-draft-restored");
  }, 120_000);

  it("submit stores the result with its annotation and opens the next task", async () => {
    await page.getByRole("button", { name: "Submit" }).click();
    await page.waitForURL((u) => /\/tasks\/[a-z0-9]+$/.test(u.pathname) && !u.pathname.endsWith(firstTask), { timeout: 30_000 });
    const done = await db.prisma.task.findUniqueOrThrow({ where: { id: firstTask }, include: { results: true } });
    expect(done.state).toBe("done");
    expect(done.results).toHaveLength(1);
    expect(done.results[0]!.answers).toMatchObject({ usable: "no", reason: ["motion"] });
    const anns = done.results[0]!.annotations as { tool: string; points: number[][]; data: { stats?: { length?: number } } }[];
    expect(anns).toHaveLength(1);
    expect(anns[0]!.tool).toBe("length");
    expect(anns[0]!.points).toHaveLength(2);
    expect(done.timeSpentMs).toBeGreaterThan(0);
    // The length is in the archive as a DICOM SR of the experiment, and reads back onto its image.
    expect(done.results[0]!.exportError).toBeNull();
    const sr = await db.prisma.archiveScan.findFirstOrThrow({ where: { experimentId: done.experimentId!, modality: "SR" }, include: { instances: true } });
    expect(sr.seriesDescription).toBe(`Task #${done.number} v1 measurements`);
    const chunks: Buffer[] = [];
    for await (const c of await blobStoreIn(dataDir).get(sr.instances[0]!.blobKey)) chunks.push(c as Buffer);
    const reported = readMeasurementReport(Buffer.concat(chunks));
    const drawn = anns[0] as unknown as { sopInstanceUid: string; data: { stats: { length: number } } };
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ tool: "length", sopInstanceUid: drawn.sopInstanceUid });
    expect(reported[0]!.values.Length!.value).toBeCloseTo(drawn.data.stats.length, 3);
    await settled(page);
    expect(await canvasInk(page)).toBeGreaterThan(1000);
    await shot(page, "task-next");
  }, 120_000);

  it("a task whose experiment has no MR series cannot be done, and says which scan is missing", async () => {
    const ct = await db.prisma.task.findFirstOrThrow({ where: { groupId, experimentId: exps[2]!.id } });
    expect(ct.state).toBe("cannot_be_done");
    await page.goto(`${app.url}/tasks/${ct.id}`);
    await expect.poll(() => page.getByTestId("cannot-be-done").textContent(), { timeout: 20_000 }).toContain("Cannot be done: no T1-weighted series");
    expect(await page.locator("[data-viewport-element]").count()).toBe(0);
    await shot(page, "task-cannot-be-done");
  }, 60_000);

  it("the owner's Tasks tab shows the group's progress and its results", async () => {
    const ownerCtx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const op = await ownerCtx.newPage();
    await devSignIn(op, app.url, "owner@institute.test", "Olga Owner");
    await op.goto(`${app.url}/projects/READS?tab=tasks`);
    await expect.poll(() => op.getByTestId("progress-Baseline QC").textContent(), { timeout: 20_000 }).toContain("2 of 3 finished");
    await op.getByRole("button", { name: "Baseline QC" }).click();
    await op.getByTestId("group-details").waitFor();
    await op.waitForTimeout(3000);
    await shot(op, "project-tasks-tab-details");
    await expect.poll(() => op.getByTestId("group-results").innerText(), { timeout: 20_000 }).toContain("usable: no");
    expect(await op.getByTestId("group-results").innerText()).toContain("reason: motion");
    await shot(op, "project-tasks-tab");
    // The done task's History: its version, its answers, its length, and the SR it wrote to the archive.
    await op.goto(`${app.url}/tasks/${firstTask}`);
    const history = op.getByTestId("task-history");
    await expect.poll(() => history.innerText(), { timeout: 30_000 }).toMatch(/SR · 1 measurement · series 9010/i);
    const text = await history.innerText();
    // The reviewer sees the reader's answers read-only.
    expect(await op.getByLabel("Unusable").isChecked()).toBe(true);
    expect(await op.getByLabel("Unusable").isDisabled()).toBe(true);
    expect(text).toContain("Rita Reader");
    expect(text).toContain("Is the scan usable?");
    expect(text).toMatch(/added\s+length/i);
    await history.scrollIntoViewIfNeeded();
    await shot(op, "task-history");
    await op.getByRole("button", { name: "Export v1 again" }).click();
    await expect.poll(async () => db.prisma.auditEvent.count({ where: { action: "task.export", targetId: firstTask } }), { timeout: 20_000 }).toBe(2);
    await ownerCtx.close();
  }, 60_000);
  it("the experiment's viewer in Browse draws the exported SR's length on its image", async () => {
    const mr = exps[0]!;
    await page.goto(`${app.url}/projects/READS/experiments/${mr.id}/view?series=${mr.scans[0]!.seriesInstanceUid}`);
    await settled(page);
    await expect.poll(() => page.getByTestId("archived-results").innerText(), { timeout: 20_000 }).toMatch(/measurements: 1 measurement/);
    // The report's colour on the annotation layer of the viewport showing the referenced image's series.
    await expect.poll(() => page.locator('[data-viewport-element="main"] svg [stroke="rgb(250, 176, 5)"]').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    await shot(page, "browse-viewer-sr");
  }, 60_000);

  it("an adjudication task shows each reader's lengths in a colour of their own, beside their answers", async () => {
    // Two readers disagree on the same MR case (in a group of two reads per case), each with a length on every slice.
    const rob = await db.prisma.user.create({ data: { email: "rob@institute.test", name: "Rob Reader" } });
    const rita = await db.prisma.user.findUniqueOrThrow({ where: { email: "reader@institute.test" } });
    await db.prisma.projectMember.create({ data: { projectId: "READS", userId: rob.id, role: "member" } });
    const g = (await createGroup(db.prisma, "READS", ownerId, { label: "Double read", templateId, experimentIds: [exps[1]!.id], readersPerCase: 2, distribution: "pool", pool: [] })).groupId;
    const instances = await db.prisma.archiveInstance.findMany({ where: { scan: { experimentId: exps[1]!.id } }, orderBy: { instanceNumber: "asc" } });
    const brain = ["131", "275", "419", "563", "707", "851"].map((n) => sourceImageOf(sample(`dwv__bbmri-53323${n}.dcm`)));
    const context = parseTemplateOrThrow(TEMPLATE).contexts[0]!;
    const lengths = (reader: string, offset: number): Measurement[] =>
      instances.map((inst, i) => {
        const o = brain[i]!.imagePositionPatient!;
        const d = brain[i]!.imageOrientationPatient!;
        const at = (u: number, v: number): [number, number, number] => [o[0] + u * d[0] + v * d[3], o[1] + u * d[1] + v * d[4], o[2] + u * d[2] + v * d[5]];
        return { uid: `${reader}-${i}`, tool: "length", ref: { scan: "t1", viewportId: "main", sopInstanceUid: inst.sopInstanceUid, frame: 1, frameOfReferenceUid: brain[i]!.frameOfReferenceUid! }, points: [at(60, 60 + offset), at(180, 60 + offset)] };
      });
    for (const [user, answers, offset] of [[rita.id, { usable: "yes" }, 0], [rob.id, { usable: "no", reason: ["motion"] }, 80]] as const) {
      const task = (await startNext(db.prisma, g, user))!;
      await submit(db.prisma, task.id, user, { answers, annotations: toTaskAnnotations(context, { version: 1, measurements: lengths(user, offset), labelmaps: [] }) }, "READS");
    }
    const adjudication = await db.prisma.task.findFirstOrThrow({ where: { groupId: g, kind: "adjudication" } });

    const ownerCtx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const op = await ownerCtx.newPage();
    await devSignIn(op, app.url, "owner@institute.test", "Olga Owner");
    await op.goto(`${app.url}/tasks/${adjudication.id}`);
    await settled(op);
    const reads = op.getByTestId("adjudication-reads");
    await expect.poll(() => reads.innerText(), { timeout: 20_000 }).toContain("Read 2 (Rob Reader)");
    expect(await reads.innerText()).toContain("Read 1 (Rita Reader)");
    // Drawn by cornerstone3D's annotation layer in the reads' colours (stroke of the SVG lines).
    const strokes = async (color: string) => op.locator(`[data-viewport-element="main"] svg [stroke="${color}"]`).count();
    await expect.poll(() => strokes("rgb(230, 73, 128)"), { timeout: 20_000 }).toBeGreaterThan(0);
    expect(await strokes("rgb(34, 139, 230)")).toBeGreaterThan(0);
    expect(await canvasInk(op)).toBeGreaterThan(1000);
    await shot(op, "task-adjudication");
    await ownerCtx.close();
  }, 120_000);

  it("a template's overlay (a pipeline's segmentation NIfTI) is drawn over its viewport as a labelmap, with its legend and opacity", async () => {
    // A pipeline run stored a label NIfTI for the second MR experiment: dcm2niix's conversion of the same slices, labelled by value.
    const mr = exps[1]!;
    const files = ["131", "275", "419", "563", "707", "851"].map((n) => path.join(SAMPLES_DIR, `dwv__bbmri-53323${n}.dcm`));
    const nii = gzipSync(labelVolumeOf(files).nii);
    const pipe = await db.prisma.pipeline.create({ data: { scope: "READS", projectId: "READS", pipelineId: "segment", version: "1", definition: {}, sourceText: "segment", toolVersions: {} } });
    const run = await db.prisma.pipelineRun.create({ data: { projectId: "READS", pipelineRowId: pipe.id, pipelineId: "segment", pipelineVersion: "1", experimentIds: [mr.id], startedBy: "cli", executor: "local", workDir: "/nonexistent", state: "succeeded" } });
    const blobKey = `derived/READS/${run.id}/mask/mask.nii.gz`;
    await blobStoreIn(dataDir).put(blobKey, nii);
    const subjectId = (await db.prisma.archiveExperiment.findUniqueOrThrow({ where: { id: mr.id } })).subjectId;
    await db.prisma.archiveResource.create({ data: { projectId: "READS", subjectId, experimentId: mr.id, name: "mask", runId: run.id, files: [{ name: "mask.nii.gz", blobKey, size: nii.length, sha256: "0".repeat(64) }] } });
    const withOverlay = TEMPLATE.replace("contexts:", "overlays:\n  mask: { label: Tissue mask, pipeline: segment, output: mask }\ncontexts:").replace("layout: { grid: 1x1, viewports: [{ id: main, scan: t1, window: auto }] }", "layout: { grid: 1x2, viewports: [{ id: main, scan: t1, window: auto, overlays: [mask] }, { id: reformat, scan: t1, orientation: axial, window: auto, overlays: [mask] }] }");
    const t = await saveTemplate(db.prisma, "READS", ownerId, "t1-overlay", withOverlay);
    const g = (await createGroup(db.prisma, "READS", ownerId, { label: "Mask check", templateId: t.templateId, experimentIds: [mr.id], readersPerCase: 1, distribution: "pool", pool: [] })).groupId;
    const task = await db.prisma.task.findFirstOrThrow({ where: { groupId: g } });

    await page.goto(`${app.url}/tasks/${task.id}`);
    await settled(page);
    const legend = page.getByTestId("overlay-mask");
    await expect.poll(() => legend.isVisible().catch(() => false), { timeout: 30_000 }).toBe(true);
    expect(await legend.innerText()).toMatch(/Tissue mask\s+Tissue mask 1\s+Tissue mask 2/);
    await expect.poll(() => page.locator('[data-viewport-element="main"]').getAttribute("data-overlays"), { timeout: 20_000 }).toBe("mask");
    // Grey MR under blue (label 1) and orange (label 2) labels: coloured pixels where the labels are, none without them.
    const coloured = (viewport = "main") =>
      page.evaluate((viewport) => {
        const c = document.querySelector<HTMLCanvasElement>(`[data-viewport-element="${viewport}"] canvas`);
        const d = c?.getContext("2d")?.getImageData(0, 0, c.width, c.height).data;
        let blue = 0;
        let orange = 0;
        if (d) for (let i = 0; i < d.length; i += 4) {
          if (d[i + 2]! - d[i]! > 30) blue++;
          else if (d[i]! - d[i + 2]! > 30) orange++;
        }
        return { blue, orange };
      }, viewport);
    await expect.poll(async () => (await coloured()).blue, { timeout: 20_000 }).toBeGreaterThan(500);
    expect((await coloured()).orange).toBeGreaterThan(100);
    await expect.poll(() => page.locator('[data-viewport-element="reformat"]').getAttribute("data-overlays"), { timeout: 20_000 }).toBe("mask");
    await expect.poll(async () => (await coloured("reformat")).blue, { timeout: 20_000 }).toBeGreaterThan(100);
    await shot(page, "task-overlay");
    const opacity = page.getByRole("slider", { name: "Overlay opacity" });
    await opacity.focus();
    await page.keyboard.press("Home");
    await expect.poll(async () => (await coloured()).blue, { timeout: 10_000 }).toBe(0);
    expect((await coloured()).orange).toBe(0);
    await shot(page, "task-overlay-hidden");
    expect(await canvasInk(page)).toBeGreaterThan(1000);
  }, 120_000);
});
