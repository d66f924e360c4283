// Browse and download in the portal, through the real `atrium start` and Chromium: an owner
// drills subjects → experiments → scans (thumbnails or placeholders, counts, sizes, dates,
// modalities, archive status and XNAT location), downloads a scan and a selection as zips whose
// entries are the stored files, watches a larger download's progress; a collaborator is told
// to ask an owner until the owner turns on "Collaborators may download" in the Overview.
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
let ownerCtx: BrowserContext;
let page: Page;
let exps: SeededExperiment[];
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-browse-e2e-"));
const downloads = mkdtempSync(path.join(os.tmpdir(), "atrium-browse-dl-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (p: Page, name: string) => {
  if (shots) await p.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};
const sample = (name: string) => readFileSync(path.join(SAMPLES_DIR, name));

async function signIn(p: Page, email: string, name: string) {
  await devSignIn(p, app.url, email, name);
  return db.prisma.user.findUniqueOrThrow({ where: { email } });
}

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: `atrium-browse-${process.pid}` });
  browser = await launchChromium();
  ownerCtx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page = await ownerCtx.newPage();
  const owner = await signIn(page, "owner@institute.test", "Olga Owner");
  await db.prisma.project.create({ data: { id: "BROWSE", idLower: "browse", name: "Browse project", members: { create: { userId: owner.id, role: "owner" } } } });
  await db.prisma.projectArchiveTarget.create({ data: { projectId: "BROWSE", kind: "xnat", xnatUrl: "https://xnat.example.org", xnatProject: "BRAIN" } });
  exps = await seedSubject(db.prisma, dataDir, "BROWSE", "PSEUDO_0001", [
    {
      label: "PSEUDO_0001_4F1A2B3C",
      studyDate: "20230115",
      description: "Brain MRI",
      scans: [
        { seriesNumber: 1, modality: "MR", description: "Localizer", instances: [sample("dwv__bbmri-53323131.dcm"), sample("dwv__bbmri-53323275.dcm")] },
        { seriesNumber: 2, modality: "MR", description: "T2 axial", instances: [sample("pydicom-data__MR2_UNCR.dcm")] },
        { seriesNumber: 9, modality: "SR", description: "Report", instances: [sample("dicomParser__report_dfl.dcm")] },
      ],
    },
    {
      label: "PSEUDO_0001_9D8E7F60",
      studyDate: "20240320",
      description: "CT chest",
      scans: [{ seriesNumber: 3, modality: "CT", description: "Chest 1mm", instances: [sample("dicomParser__ctimage.dcm"), sample("dicomParser__CT1_UNC.explicit_big_endian.dcm")] }],
    },
  ]);
  // A study that lives only on the project's XNAT.
  const st = await db.prisma.intakeStudy.create({ data: { projectId: "BROWSE", studyInstanceUid: "2.25.4242", subjectLabel: "PSEUDO_0002", instanceCount: 12, status: "stable" } });
  await db.prisma.studyArchive.create({
    data: { studyId: st.id, projectId: "BROWSE", state: "archived", targetKind: "xnat", location: "https://xnat.example.org/data/experiments/XNAT_E00042", totalBytes: 6_500_000n },
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(downloads, { recursive: true, force: true });
});

describe("Browse tab", () => {
  it("drills subjects → experiments → scans, with counts, sizes, dates, badges and locations", async () => {
    await page.goto(`${app.url}/projects/BROWSE?tab=browse`);
    const subjects = page.getByTestId("subjects-table");
    await subjects.getByText("PSEUDO_0001").waitFor();
    await subjects.getByText("PSEUDO_0002").waitFor();
    expect(await subjects.locator("tbody tr").count()).toBe(2);
    await page.getByText("xnat.example.org", { exact: true }).waitFor();
    await shot(page, "browse-subjects");

    await subjects.getByRole("button", { name: "PSEUDO_0002", exact: true }).click();
    const xnatRow = page.getByTestId("experiments-table").locator("tbody tr").first();
    await xnatRow.getByText("XNAT xnat.example.org · BRAIN").waitFor();
    expect(await xnatRow.getByRole("link").getAttribute("href")).toBe("https://xnat.example.org/data/experiments/XNAT_E00042");
    expect(await xnatRow.getByRole("checkbox").count()).toBe(0); // not downloadable here
    await shot(page, "browse-experiments-xnat");

    await page.getByRole("button", { name: "Subjects" }).click();
    await subjects.getByRole("button", { name: "PSEUDO_0001", exact: true }).click();
    const table = page.getByTestId("experiments-table");
    await table.getByText("2024-03-20").waitFor();
    await table.getByText("2023-01-15").waitFor();
    await table.getByText("Brain MRI").waitFor();
    expect(await table.locator("tbody tr").first().innerText()).toContain("PSEUDO_0001_9D8E7F60"); // newest first
    await shot(page, "browse-experiments");

    await table.getByRole("button", { name: "PSEUDO_0001_4F1A2B3C", exact: true }).click();
    const scans = page.getByTestId("scans-table");
    await scans.getByText("Localizer").waitFor();
    await scans.getByText("T2 axial").waitFor();
    // Each preview ends as a rendered thumbnail or a placeholder, never a broken image.
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll('[data-testid="scans-table"] tbody tr td:nth-child(2)')];
      return cells.length === 3 && cells.every((c) => c.querySelector('[data-testid="thumbnail-placeholder"]') || (c.querySelector("img") as HTMLImageElement | null)?.naturalWidth);
    }, undefined, { timeout: 15_000 });
    // The two images render (the DICOMweb thumbnail route); the report has no pixels: a placeholder.
    const rendered = await page.evaluate(() =>
      [...document.querySelectorAll('[data-testid="scans-table"] tbody tr td:nth-child(2)')].map((c) =>
        c.querySelector('[data-testid="thumbnail-placeholder"]') ? "placeholder" : (c.querySelector("img") as HTMLImageElement).naturalWidth > 0 ? "image" : "broken",
      ),
    );
    expect(rendered).toEqual(["image", "image", "placeholder"]);
    await shot(page, "browse-scans");
  }, 90_000);

  it("downloads a scan: the zip holds the stored files", async () => {
    const scans = page.getByTestId("scans-table");
    const [dl] = await Promise.all([page.waitForEvent("download"), scans.getByRole("button", { name: /^Download scan 2/ }).click()]);
    expect(dl.suggestedFilename()).toBe("BROWSE_PSEUDO_0001_4F1A2B3C_scan2.zip");
    const file = path.join(downloads, "scan.zip");
    await dl.saveAs(file);
    const got = await unzip(readFileSync(file));
    expect([...got.keys()]).toEqual(["PSEUDO_0001/PSEUDO_0001_4F1A2B3C/2-MR/000001.dcm"]);
    expect(got.get("PSEUDO_0001/PSEUDO_0001_4F1A2B3C/2-MR/000001.dcm")!.equals(exps[0]!.scans[1]!.files[0]!.bytes)).toBe(true);
    await page.getByText("Downloaded", { exact: true }).waitFor();
  }, 60_000);

  it("downloads a selection of a scan and another experiment", async () => {
    await page.getByTestId("scans-table").getByRole("checkbox", { name: "Select scan 1" }).check();
    await page.getByRole("button", { name: "PSEUDO_0001", exact: true }).click();
    await page.getByTestId("experiments-table").getByRole("checkbox", { name: "Select PSEUDO_0001_9D8E7F60" }).check();
    const bar = page.getByTestId("selection-bar");
    await bar.getByText("Selected: 1 experiment, 1 scan").waitFor();
    await shot(page, "browse-selection");

    const [dl] = await Promise.all([page.waitForEvent("download"), bar.getByRole("button", { name: "Download selection (zip)" }).click()]);
    expect(dl.suggestedFilename()).toBe("BROWSE_selection.zip");
    const file = path.join(downloads, "selection.zip");
    await dl.saveAs(file);
    const got = await unzip(readFileSync(file));
    expect([...got.keys()]).toEqual([
      "PSEUDO_0001/PSEUDO_0001_4F1A2B3C/1-MR/000001.dcm",
      "PSEUDO_0001/PSEUDO_0001_4F1A2B3C/1-MR/000002.dcm",
      "PSEUDO_0001/PSEUDO_0001_9D8E7F60/3-CT/000001.dcm",
      "PSEUDO_0001/PSEUDO_0001_9D8E7F60/3-CT/000002.dcm",
    ]);
    expect(got.get("PSEUDO_0001/PSEUDO_0001_9D8E7F60/3-CT/000002.dcm")!.equals(exps[1]!.scans[0]!.files[1]!.bytes)).toBe(true);
    await page.getByTestId("download-progress").waitFor({ state: "detached" });
    const audited = await db.prisma.auditEvent.findMany({ where: { projectId: "BROWSE", action: "archive.download" } });
    expect(audited.map((a) => a.targetType).sort()).toEqual(["scan", "selection"]);
  }, 90_000);

  it("a collaborator is told to ask an owner, until the owner allows collaborator downloads", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const collab = await ctx.newPage();
    const user = await signIn(collab, "colin@institute.test", "Colin Collaborator");
    await db.prisma.projectMember.create({ data: { projectId: "BROWSE", userId: user.id, role: "collaborator" } });
    await collab.goto(`${app.url}/projects/BROWSE?tab=browse`);
    const refused = collab.getByTestId("download-refused");
    await refused.getByText(/Ask a project owner to turn on "Collaborators may download"/).waitFor();
    await collab.getByTestId("subjects-table").getByRole("button", { name: "PSEUDO_0001", exact: true }).click();
    const dlButton = collab.getByTestId("experiments-table").getByRole("button", { name: /^Download PSEUDO_0001_9D8E7F60/ });
    expect(await dlButton.isDisabled()).toBe(true);
    expect(await collab.getByTestId("experiments-table").getByRole("checkbox").count()).toBe(0);
    await shot(collab, "browse-collaborator-refused");

    await page.goto(`${app.url}/projects/BROWSE?tab=overview`);
    const toggle = page.getByRole("switch", { name: "Collaborators may download" });
    await expect.poll(() => toggle.isEnabled()).toBe(true);
    await toggle.click();
    await page.getByText("Collaborators may now download.").waitFor();
    await shot(page, "browse-owner-setting");

    await collab.reload();
    // The place is in the URL (#21): the reload opens PSEUDO_0001 again.
    await collab.getByTestId("experiments-table").waitFor();
    const enabled = collab.getByTestId("experiments-table").getByRole("button", { name: /^Download PSEUDO_0001_9D8E7F60/ });
    await expect.poll(() => enabled.isEnabled()).toBe(true);
    expect(await collab.getByTestId("download-refused").count()).toBe(0);
    const [dl] = await Promise.all([collab.waitForEvent("download"), enabled.click()]);
    const got = await unzip(readFileSync((await dl.path())!));
    expect(got.size).toBe(2);
    await shot(collab, "browse-collaborator-allowed");
    await ctx.close();
  }, 90_000);

  it("a larger experiment (80 MB, several 32 MB blob flushes) shows its progress and arrives whole", async () => {
    const big = await seedSubject(db.prisma, dataDir, "BROWSE", "PSEUDO_0003", [
      { label: "PSEUDO_0003_BIGBIG01", studyDate: "20250101", scans: [{ seriesNumber: 1, modality: "CT", instances: Array.from({ length: 40 }, () => 2 * 1024 * 1024) }] },
    ]);
    await page.goto(`${app.url}/projects/BROWSE?tab=browse`);
    await page.getByTestId("subjects-table").getByRole("button", { name: "PSEUDO_0003", exact: true }).click();
    const downloadEvent = page.waitForEvent("download", { timeout: 120_000 });
    await page.getByTestId("experiments-table").getByRole("button", { name: /^Download PSEUDO_0003_BIGBIG01/ }).click();
    await page.getByTestId("download-progress").getByText(/Downloading PSEUDO_0003_BIGBIG01: .* of 80 MB \(\d+%\)/).waitFor();
    await shot(page, "browse-download-progress");
    const dl = await downloadEvent;
    expect(dl.suggestedFilename()).toBe("BROWSE_PSEUDO_0003_BIGBIG01.zip");
    const got = await unzip(readFileSync((await dl.path())!));
    expect(got.size).toBe(40);
    for (const f of big[0]!.scans[0]!.files) {
      expect(got.get(`PSEUDO_0003/PSEUDO_0003_BIGBIG01/1-CT/${String(f.instanceNumber).padStart(6, "0")}.dcm`)!.equals(f.bytes)).toBe(true);
    }
  }, 180_000);
});
