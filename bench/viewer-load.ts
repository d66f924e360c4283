// The viewer's load time (issue #15): from navigation to the first image painted (the archive's
// rendering of it, named by the page's HTML), to the first image drawn by cornerstone3D (the viewer
// interactive) and to the whole stack loaded, for a 200-slice CT (512×512, 16-bit) built from a shared sample with new UIDs and
// positions, in Debian's Chromium (SwiftShader WebGL) against the real `atrium start` on localhost;
// on the task page (/tasks/{id}, a one-viewport template matching the CT, opened directly) and on
// Browse's viewer of the series.
// Chromium is driven over a bare DevTools pipe (bench/cdp-browser.ts): Playwright, which signs in,
// would enable DevTools' network reporting on the measured pages, and that slows them down.
// Cold: a new browser context (no HTTP cache, the page's code fetched again), the first load after
// the server started; warm: the same page opened again in that context. The times are the
// viewer's own marks (performance.now() from the navigation: data-first-image, data-all-loaded).
// Baseline in the same run: the same bytes fetched by the page itself from DICOMweb with no
// viewer — the series metadata and frame 1 (first image), then every frame, 6 at a time as the
// browser's HTTP/1.1 connection limit does (whole stack).
//
// Goal: first image ≤ 0.5 s, whole stack ≤ 3 s.
// Run: npx tsx bench/viewer-load.ts [--slices 200] [--rounds 5] [--profile DIR]
// --profile writes the page's main-thread CPU profile of each load to DIR (open in Chrome DevTools).
// Needs the test PostgreSQL and Redis, the portal build (made when missing) and /usr/bin/chromium.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import dcmjs from "dcmjs";

const { values } = parseArgs({ options: { slices: { type: "string", default: "200" }, rounds: { type: "string", default: "5" }, profile: { type: "string" } } });
const SLICES = Number(values.slices);
const ROUNDS = Number(values.rounds);
process.env.ATRIUM_LOG_LEVEL ??= "error";

const { pct } = await import("./bench-db");
const { openBrowserBench } = await import("./browser-bench");
const { devSignIn, CHROMIUM } = await import("../tests/helpers/browser");
const { seedSubject } = await import("../tests/archive/seed");
const { SAMPLES_DIR } = await import("../lib/samples");
const { chromium } = await import("playwright-core");
const { launchCdpBrowser } = await import("./cdp-browser");
const { FIRST_IMAGE_TIMING } = await import("../components/viewer/names");
const { saveTemplate, createGroup } = await import("../server/tasks/ops");

/** One step, one viewport ("main") on the CT: the task page's layout matches the viewer page's. */
const TEMPLATE = `schemaVersion: 1
title: CT read
scans:
  ct: { label: CT stack, rules: [{ attribute: modality, equals: CT, required: true }] }
contexts:
  - id: read
    title: Read
    layout: { grid: 1x1, viewports: [{ id: main, scan: ct }] }
    tools: [{ type: length }]
    form: [{ id: usable, type: single, label: Usable?, options: [{ value: "yes", label: "Yes" }, { value: "no", label: "No" }] }]
`;

/** `n` slices of the CT sample: new study/series/instance UIDs, positions 1.25 mm apart, explicit VR little endian. */
function ctStack(n: number): Buffer[] {
  dcmjs.log.setLevel("error"); // the sample's private elements have no names in dcmjs's dictionary
  const src = readFileSync(path.join(SAMPLES_DIR, "dicomParser__ctimage.dcm"));
  const dict = dcmjs.data.DicomMessage.readFile(src.buffer.slice(src.byteOffset, src.byteOffset + src.byteLength));
  const base = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict) as Record<string, unknown>;
  const uid = () => dcmjs.data.DicomMetaDictionary.uid();
  const study = uid();
  const series = uid();
  const frame = uid();
  const [x, y, z] = (base.ImagePositionPatient as number[]).map(Number);
  return Array.from({ length: n }, (_, i) => {
    const sop = uid();
    const ds: Record<string, unknown> = { ...base, StudyInstanceUID: study, SeriesInstanceUID: series, FrameOfReferenceUID: frame, SOPInstanceUID: sop, InstanceNumber: String(i + 1), ImagePositionPatient: [x, y, z! + i * 1.25], SliceLocation: String(z! + i * 1.25), PatientName: "BENCH^CT", PatientID: "BENCH-CT" };
    const meta = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({ MediaStorageSOPClassUID: base.SOPClassUID, MediaStorageSOPInstanceUID: sop, TransferSyntaxUID: "1.2.840.10008.1.2.1", ImplementationClassUID: "2.25.80302813137786398554742050926734630921" });
    const out = new dcmjs.data.DicomDict(meta);
    out.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(ds);
    return Buffer.from(out.write());
  });
}

const bench = await openBrowserBench("viewer-load");
const P = "VBENCH";
try {
  await bench.db.prisma.user.create({ data: { id: "owner1", email: "owner@bench.invalid", name: "Owner" } });
  await bench.db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Viewer bench", members: { create: { userId: "owner1", role: "owner" } } } });
  const t0 = performance.now();
  const files = ctStack(SLICES);
  const [exp] = await seedSubject(bench.db.prisma, bench.dataDir, P, "PSEUDO_BENCH", [{ label: "PSEUDO_BENCH_CT", scans: [{ seriesNumber: 1, modality: "CT", description: "CT stack", instances: files }] }]);
  const series = exp!.scans[0]!;
  const mib = files.reduce((n, f) => n + f.length, 0) / 2 ** 20;
  console.log(`seeded a ${SLICES}-slice CT (${mib.toFixed(1)} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const app = await bench.start();
  // The session cookie, from a sign-in in Playwright (not used to measure).
  const signIn = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox"] });
  const signInContext = await signIn.newContext();
  await devSignIn(await signInContext.newPage(), app.url, "owner@bench.invalid", "Owner");
  const cookies = (await signInContext.cookies()).map((c) => ({ name: c.name, value: c.value, domain: c.domain, path: c.path, httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite }));
  await signIn.close();
  const browser = await launchCdpBrowser(CHROMIUM, [
    "--headless", "--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-quic", "--window-size=1280,900",
  ]);
  const { templateId } = await saveTemplate(bench.db.prisma, P, "owner1", "ct-read", TEMPLATE);
  await createGroup(bench.db.prisma, P, "owner1", { label: "CT reads", templateId, experimentIds: [exp!.id], readersPerCase: 1, distribution: "pool", pool: [] });
  const task = await bench.db.prisma.task.findFirstOrThrow({ where: { projectId: P } });
  const pages = { task: `${app.url}/tasks/${task.id}`, viewer: `${app.url}/projects/${P}/experiments/${exp!.id}/view?series=${series.seriesInstanceUid}` };
  const dicomweb = `/dicomweb/projects/${P}/studies/${exp!.studyInstanceUid}/series/${series.seriesInstanceUid}`;
  try {
    type Marks = { painted: number[]; first: number[]; all: number[] };
    const kinds = ["cold", "warm"] as const;
    const noMarks = (): Marks => ({ painted: [], first: [], all: [] });
    const measured: Record<keyof typeof pages, Record<(typeof kinds)[number], Marks>> = { task: { cold: noMarks(), warm: noMarks() }, viewer: { cold: noMarks(), warm: noMarks() } };
    const startNext = noMarks();
    const raw = { first: [] as number[], all: [] as number[] };
    const stepTimes: Record<string, number[]> = {};
    for (let r = 0; r < ROUNDS; r++) {
      // Each page in a new browser context of its own (cold: nothing cached), then the baseline in another.
      for (const [name, url] of Object.entries(pages) as [keyof typeof pages, string][]) {
        const ctx = await browser.newContext(cookies);
        const page = await ctx.newPage();
        for (const kind of kinds) {
          // The page before the navigation is marked, so that its marks are not taken for the new one's.
          await page.evaluate("window.__benchStale = true");
          if (values.profile) await page.send("Profiler.enable").then(() => page.send("Profiler.start"));
          await page.goto(url);
          await page.waitFor(`!window.__benchStale && document.querySelector('[data-viewport-element="main"]')?.dataset.allLoaded`, 120_000, 200);
          // The progress count is rendered just after the last image is in.
          await page.waitFor(`document.querySelector('[data-testid="viewport-main"]')?.dataset.loaded === "${SLICES}"`, 5_000, 50).catch(() => undefined);
          if (values.profile) {
            const { profile } = await page.send<{ profile: unknown }>("Profiler.stop");
            mkdirSync(values.profile, { recursive: true });
            writeFileSync(path.join(values.profile, `${name}-${kind}-${r + 1}.cpuprofile`), JSON.stringify(profile));
          }
          // When the archive's rendering of the first image was painted (Element Timing of the page's <img elementtiming>).
          const marks = await page.evaluate<{ painted: number; first: number; all: number; loaded: number; total: number }>(`(async () => {
            const el = document.querySelector('[data-viewport-element="main"]');
            const vp = document.querySelector('[data-testid="viewport-main"]');
            const painted = await new Promise((resolve) => {
              const seen = [];
              new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.identifier === ${JSON.stringify(FIRST_IMAGE_TIMING)}) seen.push(e.renderTime || e.loadTime); }).observe({ type: "element", buffered: true });
              setTimeout(() => resolve(seen.length ? Math.min(...seen) : NaN), 100);
            });
            return { painted, first: Number(el.dataset.firstImage), all: Number(el.dataset.allLoaded), loaded: Number(vp.dataset.loaded), total: Number(vp.dataset.total) };
          })()`);
          if (!Number.isFinite(marks.painted)) throw new Error("the first image rendered by the archive was not painted (no element timing entry)");
          if (marks.loaded !== SLICES || marks.total !== SLICES) throw new Error(`the viewer loaded ${marks.loaded} of ${marks.total} images, expected ${SLICES}`);
          measured[name][kind].painted.push(marks.painted);
          measured[name][kind].first.push(marks.first);
          measured[name][kind].all.push(marks.all);
          // Where the time went: the viewer's own performance marks (components/viewer), series UIDs dropped.
          // With the navigation's response and the first image's request (Resource Timing).
          const steps = (await page.evaluate<[string, number][]>(`(() => {
            const nav = performance.getEntriesByType("navigation")[0];
            const img = performance.getEntriesByType("resource").find((r) => r.name.includes("/rendered?image=first"));
            return [
              ["atrium:html-first-byte", nav.responseStart], ["atrium:html-end", nav.responseEnd],
              ...(img ? [["atrium:first-image-request", img.startTime], ["atrium:first-image-response", img.responseStart], ["atrium:first-image-end", img.responseEnd]] : []),
              ...performance.getEntriesByType("mark").filter((m) => m.name.startsWith("atrium:")).map((m) => [m.name.replace(/:[0-9.]+$/, ""), m.startTime]),
            ];
          })()`)) as [string, number][];
          for (const [step, at] of steps) {
            const k = `${name} ${kind} ${step.replace(/^atrium:/, "")}`;
            (stepTimes[k] ??= []).push(at);
          }
        }
        await ctx.close();
      }
      // A reader's usual way in: the queue page (/tasks), then "Start next", a client-side navigation
      // (no inline script runs; the queue page had the viewer's code prefetched). Timed from the click.
      {
        await bench.db.prisma.task.update({ where: { id: task.id }, data: { state: "queued", readerId: null, lockExpiresAt: null } });
        const ctx = await browser.newContext(cookies);
        const page = await ctx.newPage();
        await page.goto(`${app.url}/tasks`);
        const button = `document.querySelector('[data-testid="queue-CT reads"] button:not([disabled])')`;
        await page.waitFor(button, 60_000, 100);
        // The prefetches done (a reader reads the queue first).
        await page.waitFor(`[...document.querySelectorAll('link[rel="prefetch"]')].every((l) => performance.getEntriesByName(l.href).some((e) => e.responseEnd > 0))`, 30_000, 100);
        const clickedAt = await page.evaluate<number>(`(() => { const t = performance.now(); ${button}.click(); return t; })()`);
        await page.waitFor(`location.pathname.startsWith("/tasks/") && document.querySelector('[data-viewport-element="main"]')?.dataset.allLoaded`, 120_000, 100);
        const m = await page.evaluate<{ painted: number; first: number; all: number }>(`(async () => {
          const el = document.querySelector('[data-viewport-element="main"]');
          const painted = await new Promise((resolve) => {
            const seen = [];
            new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.identifier === ${JSON.stringify(FIRST_IMAGE_TIMING)}) seen.push(e.renderTime || e.loadTime); }).observe({ type: "element", buffered: true });
            setTimeout(() => resolve(seen.length ? Math.min(...seen) : NaN), 100);
          });
          return { painted, first: Number(el.dataset.firstImage), all: Number(el.dataset.allLoaded) };
        })()`);
        startNext.painted.push(m.painted - clickedAt);
        startNext.first.push(m.first - clickedAt);
        startNext.all.push(m.all - clickedAt);
        await ctx.close();
      }
      // Baseline: a page of the portal's origin (the session cookie goes with its fetches) fetches the
      // same metadata and frames itself (no decoding, no drawing).
      // A string, not a function: tsx would name the inner functions with a helper the page lacks.
      const ctx = await browser.newContext(cookies);
      const page = await ctx.newPage();
      await page.goto(`${app.url}/api/health`);
      const b = (await page.evaluate<{ first: number; all: number; n: number }>(`(async (base) => {
        const accept = { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' };
        const t = performance.now();
        const meta = await (await fetch(base + "/metadata", { headers: { accept: "application/dicom+json" } })).json();
        const urls = meta.map((m) => (m["7FE00010"] && m["7FE00010"].BulkDataURI ? m["7FE00010"].BulkDataURI.replace(/\\/bulkdata.*$/, "/frames/1") : base + "/instances/" + m["00080018"].Value[0] + "/frames/1"));
        await (await fetch(urls[0], { headers: accept })).arrayBuffer();
        const first = performance.now() - t;
        let next = 1;
        await Promise.all(Array.from({ length: 6 }, async () => {
          while (next < urls.length) {
            const i = next++;
            await (await fetch(urls[i], { headers: accept })).arrayBuffer();
          }
        }));
        return { first, all: performance.now() - t, n: meta.length };
      })(${JSON.stringify(`${app.url}${dicomweb}`)})`)) as { first: number; all: number; n: number };
      if (b.n !== SLICES) throw new Error(`the baseline read ${b.n} instances' metadata, expected ${SLICES}`);
      raw.first.push(b.first);
      raw.all.push(b.all);
      await ctx.close();
    }
    const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
    console.log(`\n${SLICES}-slice CT, ${ROUNDS} rounds (a new browser context for each page in each)`);
    for (const [name, m] of Object.entries(measured)) {
      for (const kind of kinds) {
        console.log(`  ${name} page, ${kind}: first image painted (the archive's rendering, in the page's HTML) ${f(m[kind].painted)} · first image drawn by cornerstone3D (interactive) ${f(m[kind].first)} · whole stack ${f(m[kind].all)}`);
      }
    }
    console.log(`  task page by "Start next" on /tasks (from the click; the queue page loaded, its prefetches done): first image painted ${f(startNext.painted)} · first image drawn by cornerstone3D ${f(startNext.first)} · whole stack ${f(startNext.all)}`);
    console.log(`  baseline (the page's own fetches of metadata + frames, no viewer; measured from its own start): first frame ${f(raw.first)} · all frames ${f(raw.all)}`);
    console.log(`  steps (p50 ms from the navigation): ${Object.entries(stepTimes).map(([k, xs]) => `${k} ${pct(xs, 50).toFixed(0)}`).join(" · ")}`);
    const ok = (xs: number[], goal: number) => (pct(xs, 50) <= goal ? "met" : "NOT met");
    for (const [name, m] of Object.entries(measured)) {
      console.log(`  ${name} page, goal first image ≤ 500 ms: painted cold ${ok(m.cold.painted, 500)}, warm ${ok(m.warm.painted, 500)}; drawn by cornerstone3D cold ${ok(m.cold.first, 500)}, warm ${ok(m.warm.first, 500)} · whole stack ≤ 3000 ms: cold ${ok(m.cold.all, 3000)}, warm ${ok(m.warm.all, 3000)}`);
    }
  } finally {
    await browser.close();
  }
} finally {
  await bench.close();
}
