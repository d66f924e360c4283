// The Browse tab's place in the URL and the larger image view (#21 §4, §5), through the real
// `atrium start` and Chromium: drilling to a scan puts subject, experiment and scan in the URL;
// reload and Back keep the place; thumbnails of JPEG 2000, JPEG-LS, JPEG baseline, JPEG lossless
// and 1-bit SEG scans render and a report says why it has no image; a thumbnail opens a 512 px
// view with image scrolling and the stored header; a search across subjects by modality is in
// the URL too; whole subjects are selected for download and the zip holds all their files.
// Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import { SAMPLES_DIR } from "@/lib/samples";
import { seedSubject, unzip, type SeededExperiment } from "../archive/seed";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let a: SeededExperiment[];
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-browse-place-"));
const downloads = mkdtempSync(path.join(os.tmpdir(), "atrium-browse-place-dl-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: false });
};
const sample = (name: string) => readFileSync(path.join(SAMPLES_DIR, name));
const P = "PLACE";

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: `atrium-place-${process.pid}` });
  browser = await launchChromium();
  ctx = await browser.newContext({ viewport: { width: 1400, height: 950 }, acceptDownloads: true });
  page = await ctx.newPage();
  await devSignIn(page, app.url, "owner@institute.test", "Olga Owner");
  const owner = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Place project", members: { create: { userId: owner.id, role: "owner" } } } });
  a = await seedSubject(db.prisma, dataDir, P, "PSEUDO_A", [
    {
      label: "PSEUDO_A_MR",
      studyDate: "20240110",
      description: "Brain MRI",
      scans: [
        { seriesNumber: 1, modality: "MR", description: "J2K lossy", instances: [sample("pydicom-data__MR2_J2KI.dcm")] },
        { seriesNumber: 2, modality: "MR", description: "JPEG-LS multiframe", instances: [sample("pydicom-data__emri_small_jpeg_ls_lossless.dcm")] },
        { seriesNumber: 3, modality: "MR", description: "JPEG extended 12 bit", instances: [sample("dwv__nema-mr1_jply.dcm")] },
        { seriesNumber: 4, modality: "SEG", description: "Segmentation", instances: [sample("highdicom__seg_image_ct_binary_overlap.dcm")] },
        { seriesNumber: 9, modality: "SR", description: "Report", instances: [sample("dicomParser__report_dfl.dcm")] },
      ],
    },
    {
      label: "PSEUDO_A_CT",
      studyDate: "20240305",
      description: "CT chest",
      scans: [{ seriesNumber: 5, modality: "CT", description: "J2K slices", instances: [sample("dwv__osirix-toutatix-100.dcm"), sample("dwv__osirix-toutatix-101.dcm")] }],
    },
  ]);
  await seedSubject(db.prisma, dataDir, P, "PSEUDO_B", [
    { label: "PSEUDO_B_CT", studyDate: "20230901", description: "CT lossless", scans: [{ seriesNumber: 1, modality: "CT", description: "JPEG lossless", instances: [sample("pydicom-data__bad_sequence.dcm")] }] },
  ]);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(downloads, { recursive: true, force: true });
});

const query = () => Object.fromEntries(new URL(page.url()).searchParams);

describe("Browse: the place in the URL, larger images", () => {
  it("drills to a scan with the place in the URL; reload and Back keep it; thumbnails render or say why not", async () => {
    await page.goto(`${app.url}/projects/${P}?tab=browse`);
    await page.getByTestId("subjects-table").getByRole("button", { name: "PSEUDO_A", exact: true }).click();
    await page.waitForURL(/subject=PSEUDO_A/);
    await page.getByTestId("experiments-table").getByRole("button", { name: "PSEUDO_A_MR", exact: true }).click();
    await page.waitForURL(/experiment=/);
    expect(query()).toEqual({ tab: "browse", subject: "PSEUDO_A", experiment: a[0]!.id });

    // Every image scan gets a thumbnail (J2K, JPEG-LS, 12-bit JPEG, SEG); the report says why not.
    const scans = page.getByTestId("scans-table");
    await scans.getByText("Report").waitFor();
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll('[data-testid="scans-table"] tbody tr td:nth-child(2)')];
      return cells.length === 5 && cells.every((c) => c.querySelector('[data-testid="thumbnail-placeholder"]:not([data-reason="…"])') || (c.querySelector("img") as HTMLImageElement | null)?.naturalWidth);
    }, undefined, { timeout: 60_000 });
    const kinds = await page.evaluate(() =>
      [...document.querySelectorAll('[data-testid="scans-table"] tbody tr td:nth-child(2)')].map((c) => (c.querySelector('[data-testid="thumbnail-placeholder"]') as HTMLElement | null)?.dataset.reason ?? "image"),
    );
    expect(kinds.slice(0, 4)).toEqual(["image", "image", "image", "image"]);
    expect(kinds[4]).toMatch(/pixel data/);
    await shot("browse-place-scans");

    // Reload: the same experiment, its label in the breadcrumbs.
    await page.reload();
    await page.getByTestId("scans-table").getByText("J2K lossy").waitFor();
    await page.getByTestId("browse-place").getByText("PSEUDO_A_MR").waitFor();

    // A thumbnail opens the larger view; it is in the URL too.
    await page.getByTestId("scans-table").locator("tbody tr").first().getByTestId("thumbnail-open").click();
    await page.waitForURL(/scan=/);
    const view = page.getByTestId("scan-view");
    await view.waitFor();
    await page.waitForFunction(() => ((document.querySelector('[data-testid="scan-image"]') as HTMLImageElement | null)?.naturalWidth ?? 0) === 512, undefined, { timeout: 60_000 });
    await page.getByTestId("scan-header").getByText("TransferSyntaxUID", { exact: true }).waitFor();
    await shot("browse-place-scan-view");

    // Back closes the view, then returns to the subject, then to the subjects.
    await page.goBack();
    await page.waitForURL((u) => !u.searchParams.has("scan"));
    await view.waitFor({ state: "detached" });
    await page.goBack();
    await page.waitForURL((u) => !u.searchParams.has("experiment"));
    await page.getByTestId("experiments-table").getByText("PSEUDO_A_CT").waitFor();
    await page.goBack();
    await page.waitForURL((u) => !u.searchParams.has("subject"));
    await page.getByTestId("subjects-table").getByText("PSEUDO_B").waitFor();
    expect(query()).toEqual({ tab: "browse" });
  }, 180_000);

  it("scrolls the images of a scan in the larger view, opened from a link", async () => {
    const ct = a[1]!;
    await page.goto(`${app.url}/projects/${P}?tab=browse&subject=PSEUDO_A&experiment=${ct.id}&scan=${ct.scans[0]!.id}`);
    await page.getByTestId("scan-view").waitFor();
    await page.getByTestId("scan-position").getByText(/^Image 1 of 2/).waitFor();
    const first = await page.getByTestId("scan-image").getAttribute("src");
    await page.getByTestId("scan-slider").getByRole("slider").focus();
    await page.keyboard.press("ArrowRight");
    await page.getByTestId("scan-position").getByText(/^Image 2 of 2 · JPEG 2000/).waitFor();
    expect(await page.getByTestId("scan-image").getAttribute("src")).not.toBe(first);
    await page.waitForFunction(() => ((document.querySelector('[data-testid="scan-image"]') as HTMLImageElement | null)?.naturalWidth ?? 0) === 512, undefined, { timeout: 60_000 });
    await shot("browse-place-scan-slice2");
    await page.keyboard.press("Escape");
    await page.waitForURL((u) => !u.searchParams.has("scan"));
  }, 120_000);

  it("searches across subjects by modality with the search in the URL, and downloads whole subjects", async () => {
    await page.goto(`${app.url}/projects/${P}?tab=browse`);
    await page.getByLabel("Modality").fill("ct");
    await page.getByRole("button", { name: "Search all subjects" }).click();
    await page.waitForURL(/modality=CT/);
    await page.getByTestId("search-count").getByText("2 experiments match").waitFor();
    await page.reload();
    await page.getByTestId("search-count").getByText("2 experiments match").waitFor();
    const rows = page.getByTestId("search-table").locator("tbody tr");
    expect((await rows.allInnerTexts()).map((t) => t.split("\t")[1]!.trim())).toEqual(["PSEUDO_A", "PSEUDO_B"]);
    await page.getByTestId("select-all-results").click();
    await page.getByTestId("download-selection").getByText(/Selected: 2 experiments/).waitFor();
    await shot("browse-place-search");
    await page.getByRole("button", { name: "Clear", exact: true }).click();

    // Whole subjects: tick the page of subjects, download, the zip holds every file of both.
    await page.getByRole("button", { name: "Clear search" }).click();
    await page.waitForURL((u) => !u.searchParams.has("modality"));
    await page.getByTestId("select-subjects-page").check();
    await page.getByTestId("download-selection").getByText(/Selected: 2 whole subjects/).waitFor();
    const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download selection (zip)" }).click()]);
    const file = path.join(downloads, "subjects.zip");
    await dl.saveAs(file);
    const entries = await unzip(readFileSync(file));
    const stored = await db.prisma.archiveInstance.count({ where: { scan: { experiment: { projectId: P } } } });
    expect(entries.size).toBe(stored);
    expect([...entries.keys()].some((k) => k.includes("PSEUDO_B"))).toBe(true);
  }, 120_000);
});
