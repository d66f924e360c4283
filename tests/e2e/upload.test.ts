// Browser upload through the real `atrium start`: an owner opens the project's Upload tab, chooses a
// folder of the shared samples (nested, with a text file and Finder litter), watches per-file
// progress and a summary that follows de-identification live; then uploads a zip archive made here.
// Samples are read from the shared directory at test time (copied only into a temporary folder).
// Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import yazl from "yazl";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { devSignIn, launchChromium } from "../helpers/browser";
import { SAMPLES_DIR } from "@/lib/samples";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-upload-e2e-"));
const workDir = mkdtempSync(path.join(os.tmpdir(), "atrium-upload-files-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (name: string) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};

/** The samples named in MANIFEST.tsv, in its order. */
const manifest = readFileSync(path.join(SAMPLES_DIR, "MANIFEST.tsv"), "utf8")
  .split("\n")
  .slice(1)
  .map((l) => l.split("\t")[0]!)
  .filter((f) => f && f.endsWith(".dcm"));
const FOLDER_SAMPLES = manifest.slice(0, 16);
const ZIP_SAMPLES = manifest.slice(16, 22);

const count = async (id: string) => Number((await page.getByTestId(`upload-count-${id}-value`).innerText()).replace(/[^0-9]/g, ""));

async function waitForSummary(expectedFiles: number) {
  // Every file has an outcome and nothing is still being de-identified.
  await expect
    .poll(
      async () => {
        // Ultrasound and secondary-capture images are held for a pixel review (burned-in text possible).
        const done = (await count("deidentified")) + (await count("duplicate")) + (await count("quarantined")) + (await count("skipped")) + (await count("review"));
        return done === expectedFiles && (await count("processing")) === 0;
      },
      { timeout: 90_000, interval: 500 },
    )
    .toBe(true);
}

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: `atrium-upload-e2e-${process.pid}`, ATRIUM_DICOM_PORT: "0" });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // The folder: samples spread over nested folders, a text file, and Finder litter.
  const folder = path.join(workDir, "scans");
  FOLDER_SAMPLES.forEach((f, i) => {
    const dir = path.join(folder, `series${i % 3}`, i % 2 ? "extra" : "");
    mkdirSync(dir, { recursive: true });
    copyFileSync(path.join(SAMPLES_DIR, f), path.join(dir, f));
  });
  writeFileSync(path.join(folder, "notes.txt"), "scanned on tuesday\n");
  writeFileSync(path.join(folder, ".DS_Store"), "finder litter");
  // The zip: more samples in folders, a readme and a macOS resource fork.
  const z = new yazl.ZipFile();
  ZIP_SAMPLES.forEach((f, i) => z.addFile(path.join(SAMPLES_DIR, f), `export/study/${i % 2 ? "s2/" : "s1/"}${f}`));
  z.addBuffer(Buffer.from("exported by the PACS"), "export/README.txt");
  z.addBuffer(Buffer.from("fork"), "__MACOSX/export/._README.txt");
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream) chunks.push(c as Buffer);
  writeFileSync(path.join(workDir, "export.zip"), Buffer.concat(chunks));
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(workDir, { recursive: true, force: true });
});

describe("browser upload", () => {
  it("an owner uploads a folder and sees each file's progress and a live summary", async () => {
    await devSignIn(page, app.url, "owner@institute.test", "Olga Owner");
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
    await db.prisma.project.create({ data: { id: "UPLOAD", idLower: "upload", name: "Upload project", members: { create: { userId: user.id, role: "owner" } } } });

    await page.goto(`${app.url}/projects/UPLOAD`);
    await page.getByRole("tab", { name: "Upload" }).click();
    await page.getByText("Drop DICOM files, folders or zip archives here").waitFor();
    await shot("upload-empty");

    await page.getByTestId("upload-folder-input").setInputFiles(path.join(workDir, "scans"));
    // One row per file, .DS_Store passed over; each with a progress bar.
    await expect.poll(() => page.getByTestId("upload-row").count()).toBe(FOLDER_SAMPLES.length + 1);
    await waitForSummary(FOLDER_SAMPLES.length + 1);
    await page.getByText(`Uploaded ${FOLDER_SAMPLES.length + 1} of ${FOLDER_SAMPLES.length + 1} files`).waitFor();
    expect(await count("skipped")).toBeGreaterThanOrEqual(1);
    const notes = page.getByTestId("upload-row").filter({ hasText: "scans/notes.txt" });
    await expect.poll(() => notes.innerText()).toMatch(/skipped[\s\S]*not a DICOM file/i);
    await expect.poll(() => page.getByTestId("upload-reasons").innerText()).toMatch(/skipped\s+not a DICOM file/i);
    expect(await page.getByTestId("upload-progress").getByRole("progressbar").count()).toBe(FOLDER_SAMPLES.length + 2);

    // The page and the database agree.
    const rows = await db.prisma.receivedInstance.findMany({ where: { projectId: "UPLOAD", channel: "upload" } });
    expect(new Set(rows.map((r) => r.batchId)).size).toBe(1);
    expect(rows.filter((r) => r.status === "deidentified").length).toBe(await count("deidentified"));
    expect(rows.filter((r) => r.status === "quarantined").length).toBe(await count("quarantined"));
    expect(rows.filter((r) => r.status === "review").length).toBe(await count("review"));
    // Recorded files that de-identification skipped (e.g. a DICOMDIR) count as skipped, with its reason.
    expect(rows.filter((r) => r.status !== "skipped").length).toBe(await count("stored"));
    expect(rows.filter((r) => r.status === "skipped").length + 1).toBe(await count("skipped"));
    await shot("upload-folder-done");
  }, 180_000);

  it("a zip archive is unpacked on the server: each entry gets an outcome, a new upload a new summary", async () => {
    await page.getByRole("button", { name: "New upload" }).click();
    await page.getByTestId("upload-files-input").setInputFiles(path.join(workDir, "export.zip"));
    await expect.poll(() => page.getByTestId("upload-row").count()).toBe(1);
    await waitForSummary(ZIP_SAMPLES.length + 1);
    await expect.poll(() => page.getByTestId("upload-row").innerText()).toMatch(new RegExp(`zip: ${ZIP_SAMPLES.length + 1} files[\\s\\S]*1 skipped`, "i"));
    expect(await count("skipped")).toBe(1);
    await expect.poll(() => page.getByTestId("upload-reasons").innerText()).toMatch(/not a DICOM file/);
    const batches = await db.prisma.receivedInstance.groupBy({ by: ["batchId"], where: { projectId: "UPLOAD" } });
    expect(batches).toHaveLength(2);
    await shot("upload-zip-done");

    // The Intake tab shows what arrived.
    await page.getByRole("tab", { name: "Intake" }).click();
    await page.getByTestId("intake-live").waitFor();
    await expect.poll(() => page.getByTestId("live-senders").innerText()).toMatch(/browser uploads/);
    await page.getByTestId("recent-studies").waitFor();
    await shot("upload-intake-live");
  }, 180_000);

  it("a failed upload says why and can be retried; a cancelled one keeps nothing and can be retried", async () => {
    await page.getByRole("tab", { name: "Upload" }).click();
    const before = await db.prisma.receivedInstance.count({ where: { projectId: "UPLOAD" } });
    const files = FOLDER_SAMPLES.slice(0, 2).map((f) => path.join(SAMPLES_DIR, f));
    // The network fails.
    await page.route("**/api/projects/UPLOAD/upload*", (r) => r.abort("failed"));
    await page.getByTestId("upload-files-input").setInputFiles(files);
    await page.getByRole("button", { name: "Retry 2 failed" }).waitFor();
    await expect.poll(() => page.getByTestId("upload-files").innerText()).toMatch(/connection failed before the server answered/);
    await shot("upload-failed");
    await page.unroute("**/api/projects/UPLOAD/upload*");
    await page.getByRole("button", { name: "Retry 2 failed" }).click();
    // Sent before, in the first upload: recorded again, found to be duplicates.
    await expect.poll(() => count("duplicate"), { timeout: 60_000 }).toBe(2);
    expect(await db.prisma.receivedInstance.count({ where: { projectId: "UPLOAD" } })).toBe(before + 2);

    // Cancelled while the request hangs.
    await page.getByRole("button", { name: "New upload" }).click();
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    await page.route("**/api/projects/UPLOAD/upload*", async (r) => {
      await held;
      await r.continue().catch(() => undefined);
    });
    await page.getByTestId("upload-files-input").setInputFiles(files[0]!);
    await page.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("button", { name: "Retry 1 failed" }).waitFor();
    await expect.poll(() => page.getByTestId("upload-row").innerText()).toMatch(/cancelled/i);
    release();
    await page.unroute("**/api/projects/UPLOAD/upload*");
    expect(await db.prisma.receivedInstance.count({ where: { projectId: "UPLOAD" } })).toBe(before + 2);
    await page.getByRole("button", { name: "Retry 1 failed" }).click();
    await expect.poll(() => count("duplicate"), { timeout: 60_000 }).toBe(1);
    await shot("upload-retried");
  }, 180_000);

  it("files dropped on the drop zone are uploaded", async () => {
    await page.getByRole("button", { name: "New upload" }).click();
    const name = FOLDER_SAMPLES[2]!;
    const b64 = readFileSync(path.join(SAMPLES_DIR, name)).toString("base64");
    const dataTransfer = await page.evaluateHandle(
      ({ b64, name }) => {
        const dt = new DataTransfer();
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        dt.items.add(new File([bytes], name));
        dt.items.add(new File(["just text"], "notes.txt", { type: "text/plain" }));
        return dt;
      },
      { b64, name },
    );
    await page.getByTestId("upload-dropzone").dispatchEvent("drop", { dataTransfer });
    await expect.poll(() => page.getByTestId("upload-row").count()).toBe(2);
    await waitForSummary(2);
    expect(await count("duplicate")).toBe(1);
    expect(await count("skipped")).toBe(1);
  }, 120_000);

  it("a folder of hundreds of files shows at most 200 rows, and totals that count them all", async () => {
    await page.getByRole("button", { name: "New upload" }).click();
    const many = path.join(workDir, "many");
    mkdirSync(many);
    for (let i = 0; i < 250; i++) writeFileSync(path.join(many, `page-${String(i).padStart(3, "0")}.txt`), `not an image ${i}\n`);
    await page.getByTestId("upload-folder-input").setInputFiles(many);
    await waitForSummary(250);
    expect(await count("skipped")).toBe(250);
    expect(await page.getByTestId("upload-row").count()).toBe(200);
    await page.getByText("Showing 200 of 250 files").waitFor();
    await page.getByText("Uploaded 250 of 250 files").waitFor();
    await shot("upload-many");
  }, 120_000);
});
