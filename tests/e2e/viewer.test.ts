// The viewer (components/viewer) through the real `atrium start` and Chromium with SwiftShader
// WebGL: the Browse viewer renders a CT sample (real canvas pixels, not only the DOM), a 2×2 MPR
// layout renders each viewport, every transfer syntax among the samples renders non-blank (or says
// it has no pixel data), and a length drawn with the mouse is readable as annotation JSON.
// Screenshots go to ATRIUM_SCREENSHOTS when it is set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { CHROMIUM, devSignIn } from "../helpers/browser";
import { SAMPLES_DIR } from "@/lib/samples";
import { seedSubject, type SeededExperiment } from "../archive/seed";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let browser: Browser;
let page: Page;
let exps: SeededExperiment[];
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-viewer-e2e-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
const shot = async (p: Page, name: string) => {
  if (shots) await p.screenshot({ path: `${shots}/${name}.png` });
};
const sample = (name: string) => readFileSync(path.join(SAMPLES_DIR, name));

/** One sample per transfer syntax the archive holds (MANIFEST.tsv). */
const SYNTAXES: [string, string][] = [
  ["Explicit VR Little Endian", "pydicom__CT_small.dcm"],
  ["Implicit VR Little Endian", "dicomParser__ctimage.dcm"],
  ["Explicit VR Big Endian", "dicomParser__CT1_UNC.explicit_big_endian.dcm"],
  ["JPEG Baseline", "dicomParser__IM00001.fragmented_no_bot_jpeg_baseline.50.dcm"],
  ["JPEG Extended", "dwv__nema-mr1_jply.dcm"],
  ["JPEG Lossless SV1", "pydicom-data__JPEG-LL.dcm"],
  ["JPEG-LS Lossless", "pydicom-data__JLSL_16_15_1_1F.dcm"],
  ["JPEG-LS Near-Lossless", "dicomParser__CT0012.fragmented_no_bot_jpeg_ls.81.dcm"],
  ["JPEG 2000", "dwv__osirix-toutatix-100.dcm"],
  ["JPEG 2000 Lossless", "pydicom-data__693_J2KR.dcm"],
  ["HTJ2K Lossless", "pydicom-data__HTJ2KLossless_08_RGB.dcm"],
  ["RLE Lossless", "dicomParser__CT0012.not_fragmented_bot_rle.dcm"],
  ["Deflated Explicit VR Little Endian (SR, no pixels)", "dicomParser__report_dfl.dcm"],
];

/** Non-black pixels of each viewport's canvas (read from the 2D canvas cornerstone draws into). */
async function canvasInk(p: Page): Promise<Record<string, number>> {
  return p.evaluate(() => {
    const out: Record<string, number> = {};
    for (const el of document.querySelectorAll<HTMLElement>("[data-viewport-element]")) {
      const c = el.querySelector("canvas");
      if (!c || !c.width) {
        out[el.dataset.viewportElement!] = 0;
        continue;
      }
      const ctx = c.getContext("2d");
      const d = ctx?.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      if (d) for (let i = 0; i < d.length; i += 4) if (d[i]! > 8 || d[i + 1]! > 8 || d[i + 2]! > 8) n++;
      out[el.dataset.viewportElement!] = n;
    }
    return out;
  });
}

/** Waits until every viewport has drawn its first image and loaded its stack, or shows a message. */
async function settled(p: Page, timeout = 30_000) {
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

const viewUrl = (exp: SeededExperiment, series?: string, layout?: string) =>
  `${app.url}/projects/VIEW/experiments/${exp.id}/view${series ? `?series=${series}${layout ? `&layout=${layout}` : ""}` : ""}`;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await startAtrium({ DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: `atrium-viewer-${process.pid}` });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-quic"],
  });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await ctx.newPage();
  page.on("pageerror", (e) => console.error("pageerror:", e.message));
  await devSignIn(page, app.url, "owner@institute.test", "Olga Owner");
  const owner = await db.prisma.user.findUniqueOrThrow({ where: { email: "owner@institute.test" } });
  await db.prisma.project.create({ data: { id: "VIEW", idLower: "view", name: "Viewer project", members: { create: { userId: owner.id, role: "owner" } } } });
  exps = await seedSubject(db.prisma, dataDir, "VIEW", "PSEUDO_0007", [
    { label: "PSEUDO_0007_CT", description: "CT", scans: [{ seriesNumber: 1, modality: "CT", description: "CT small", instances: [sample("pydicom__CT_small.dcm")] }] },
    {
      label: "PSEUDO_0007_MR",
      description: "MR",
      scans: [{ seriesNumber: 2, modality: "MR", description: "Brain stack", instances: ["131", "275", "419", "563", "707", "851"].map((n) => sample(`dwv__bbmri-53323${n}.dcm`)) }],
    },
    { label: "PSEUDO_0007_TS", description: "Transfer syntaxes", scans: SYNTAXES.map(([d, f], i) => ({ seriesNumber: 10 + i, modality: "OT", description: d, instances: [sample(f)] })) },
  ]);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("viewer", () => {
  it("Browse links to the viewer, which draws the CT sample with real pixels and only pseudonymous text", async () => {
    await page.goto(`${app.url}/projects/VIEW?tab=browse`);
    await page.getByTestId("subjects-table").getByRole("button", { name: "PSEUDO_0007", exact: true }).click();
    await page.getByTestId("experiments-table").getByRole("button", { name: "PSEUDO_0007_CT", exact: true }).click();
    await page.getByTestId("scans-table").getByRole("link", { name: "View scan 1" }).click();
    await page.waitForURL(/\/experiments\/.+\/view\?series=/);
    await settled(page);
    const ink = await canvasInk(page);
    expect(ink.main).toBeGreaterThan(1000);
    const text = await page.getByTestId("viewer").innerText();
    expect(text).toContain("PSEUDO_0007");
    expect(text).toContain("#1 CT"); // the file's own series number and modality (CT_small has no series description)
    expect(text).toMatch(/W \d+ L -?\d+/);
    expect(text).not.toMatch(/CompressedSamples|Patient/i); // CT_small's PatientName is "CompressedSamples^CT1"
    await shot(page, "viewer-ct");
  }, 90_000);

  it("the page's HTML shows each series' first image (the archive's rendering, in display order) before any script runs; the viewer replaces it with its canvas", async () => {
    const mr = exps[1]!;
    const series = mr.scans[0]!.seriesInstanceUid;
    const url = viewUrl(mr, series);
    // No JavaScript at all: what the HTML alone shows.
    const bare = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: false });
    await bare.addCookies(await page.context().cookies());
    const still = await bare.newPage();
    await still.goto(url);
    const img = still.getByTestId("first-image");
    await expect.poll(() => img.evaluate((e: HTMLImageElement) => e.complete && e.naturalWidth)).toBeGreaterThan(0);
    const src = (await img.getAttribute("src"))!;
    expect(src).toBe(`/dicomweb/projects/VIEW/studies/${mr.studyInstanceUid}/series/${series}/rendered?image=first`);
    // The slices' positions run against their numbers: the first in display order is the last file seeded.
    const lastSop = (await db.prisma.archiveInstance.findFirstOrThrow({ where: { scan: { seriesInstanceUid: series } }, orderBy: { instanceNumber: "desc" } })).sopInstanceUid;
    const [shown, direct] = await Promise.all([still.request.get(`${app.url}${src}`), still.request.get(`${app.url}/dicomweb/projects/VIEW/studies/${mr.studyInstanceUid}/series/${series}/instances/${lastSop}/rendered`)]);
    expect(Buffer.from(await shown.body()).equals(Buffer.from(await direct.body()))).toBe(true);
    await shot(still, "viewer-first-image-html");
    await bare.close();
    // With the viewer: the canvas takes over and the rendering is gone.
    const asked: string[] = [];
    const onRequest = (r: { url: () => string }) => asked.push(r.url());
    page.context().on("request", onRequest);
    await page.goto(url);
    await settled(page);
    page.context().off("request", onRequest);
    expect(await page.getByTestId("first-image").count()).toBe(0);
    expect((await canvasInk(page)).main).toBeGreaterThan(1000);
    // The HTML started the frame fetcher worker itself (the build recorded its chunk), which asked
    // for the metadata once and for the series' pixel data once (every frame in one answer), and
    // for no frame on its own; the page asked for none of it.
    expect(await page.evaluate(() => Boolean((window as unknown as { __atriumEarly?: { worker: unknown } }).__atriumEarly?.worker))).toBe(true);
    expect(asked.filter((u) => u.endsWith(`/series/${series}/metadata`))).toHaveLength(1);
    expect(asked.filter((u) => u.endsWith(`/series/${series}/pixeldata`))).toHaveLength(1);
    expect(asked.filter((u) => u.includes("/frames/"))).toEqual([]);
    const byPage = await page.evaluate(() => performance.getEntriesByType("resource").map((r) => r.name));
    expect(byPage.filter((u) => u.includes("/frames/") || u.endsWith("/metadata") || u.endsWith("/pixeldata"))).toEqual([]);
    // The MR's native 16-bit frames were decoded in the worker: all six images came from there, not from the loader's decoder.
    expect(await page.getByTestId("viewport-main").locator("[data-viewport-element]").getAttribute("data-decoded-ahead")).toBe("6");
  }, 90_000);

  it("a 2×2 MPR layout renders each viewport in its orientation", async () => {
    const mr = exps[1]!;
    await page.goto(viewUrl(mr, mr.scans[0]!.seriesInstanceUid, "mpr"));
    await settled(page);
    const ink = await canvasInk(page);
    for (const v of ["acquired", "axial", "sagittal", "coronal"]) expect(ink[v], v).toBeGreaterThan(200);
    expect(await page.getByTestId("viewport-sagittal").getAttribute("data-orientation")).toBe("sagittal");
    await shot(page, "viewer-mpr");
  }, 90_000);

  it("a length drawn with the mouse is readable as annotation JSON", async () => {
    const ct = exps[0]!;
    await page.goto(viewUrl(ct, ct.scans[0]!.seriesInstanceUid));
    await settled(page);
    await page.keyboard.press("l");
    const box = (await page.getByTestId("viewport-main").boundingBox())!;
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    await page.mouse.move(cx - 80, cy - 40);
    await page.mouse.down();
    await page.mouse.move(cx, cy, { steps: 8 });
    await page.mouse.move(cx + 80, cy + 40, { steps: 8 });
    await page.mouse.up();
    await page.waitForTimeout(500);
    await shot(page, "viewer-length");
    await page.getByRole("button", { name: "Annotations (JSON)" }).click();
    const json = JSON.parse((await page.getByTestId("annotations-json").textContent())!) as { version: number; measurements: { tool: string; points: number[][]; ref: { scan: string; sopInstanceUid?: string }; stats?: Record<string, unknown> }[] };
    expect(json.version).toBe(1);
    expect(json.measurements).toHaveLength(1);
    const m = json.measurements[0]!;
    expect(m.tool).toBe("length");
    expect(m.points).toHaveLength(2);
    expect(m.ref.scan).toBe("s");
    expect(m.ref.sopInstanceUid).toBe(await db.prisma.archiveInstance.findFirstOrThrow({ where: { scan: { seriesInstanceUid: ct.scans[0]!.seriesInstanceUid } } }).then((i) => i.sopInstanceUid));
    expect(typeof m.stats?.length).toBe("number");
    expect(m.stats!.length as number).toBeGreaterThan(10); // mm
  }, 90_000);
});
