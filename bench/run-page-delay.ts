// Monitoring (issue #13), in the browser: the delay from a job's state change to an open run page
// showing it (goal p95 ≤ 1 s), and the memory of an open run page over a long stretch of updates.
// Debian's Chromium against the real `atrium start` (production build):
//  - a run reported through /pim: each round PUTs a job update (fastr's reporter's request) and
//    times until the run page lists the new job;
//  - an Atrium run: each round changes one job's state in the database, as a worker does, and
//    times until the run page shows it;
//  - baseline in the same run: reloading the run page until it shows the same (what a user without
//    a live page does).
// Then, with --minutes M (default 30, 0 skips), the Atrium run page stays open while a job's state
// changes every second; its JS heap (after a garbage collection) is read each minute.
//
// Run: npx tsx bench/run-page-delay.ts [--rounds 30] [--minutes 30]
// Needs the test PostgreSQL and Redis, the portal build (made when missing) and /usr/bin/chromium.
import path from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "30" }, minutes: { type: "string", default: "30" } } });
const ROUNDS = Number(values.rounds);
const MINUTES = Number(values.minutes);
process.env.ATRIUM_LOG_LEVEL ??= "error";

const { pct } = await import("./bench-db");
const { openBrowserBench } = await import("./browser-bench");
const { devSignIn, launchChromium } = await import("../tests/helpers/browser");
const { createProjectToken } = await import("../server/tokens/create");
const { registration } = await import("../tests/pim/fastr-reporter");
const { toolSchema, pipelineSchema } = await import("../lib/pipelines/schema");

const bench = await openBrowserBench("run-delay");
const h = bench.db;
const dataDir = bench.dataDir;
const P = "BENCH";
const JOBS = ROUNDS + 2;
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} ms · p95 ${pct(xs, 95).toFixed(0)} ms · max ${Math.max(...xs).toFixed(0)} ms`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
try {
  const p = h.prisma;
  const owner = await p.user.create({ data: { email: "owner@bench.invalid", name: "Owner" } });
  await p.project.create({ data: { id: P, idLower: "bench", name: "Bench", members: { create: { userId: owner.id, role: "owner" } } } });
  const { token } = await createProjectToken(p, { projectId: P, name: "fastr", scopes: ["report"] }, owner.id);

  const app = await bench.start();
  // An Atrium run of one node, running, with JOBS jobs waiting for a gate job that stays queued:
  // made once Atrium runs (its workers re-queue queued jobs only when they start), so no worker
  // takes them and the bench writes their states itself, as a worker would.
  const tool = toolSchema.parse({ kind: "tool", id: "bench-echo", version: "1", command: ["echo", "{dicom}"], inputs: [{ id: "dicom", type: "dicom-series" }] });
  await p.pipelineTool.create({ data: { scope: P, projectId: P, toolId: tool.id, version: tool.version, definition: tool as object, sourceText: "bench" } });
  const pipe = pipelineSchema.parse({ kind: "pipeline", id: "bench", version: "1", sources: { series: { from: "scans" } }, nodes: { echo: { tool: "bench-echo", in: { dicom: "series" } } } });
  const pipeRow = await p.pipeline.create({ data: { scope: P, projectId: P, pipelineId: pipe.id, version: pipe.version, definition: pipe as object, sourceText: "bench", toolVersions: { echo: "1" } } });
  const jobRow = (key: string, state: "queued" | "waiting", after: string[]) => ({ key, node: "echo", sample: key.split(":")[1]!, level: "scan", toolId: "bench-echo", toolVersion: "1", executor: "local", workDir: dataDir, logPath: path.join(dataDir, `${key}.log`), inputs: {}, state, after });
  const run = await p.pipelineRun.create({
    data: {
      projectId: P, pipelineRowId: pipeRow.id, pipelineId: "bench", pipelineVersion: "1", experimentIds: [], startedBy: "bench", executor: "local", workDir: dataDir, state: "running",
      jobs: { create: [jobRow("echo:gate", "queued", []), ...Array.from({ length: JOBS }, (_, i) => jobRow(`echo:s${String(i).padStart(3, "0")}`, "waiting", ["echo:gate"]))] },
    },
    include: { jobs: { where: { state: "waiting" }, orderBy: { sample: "asc" } } },
  });

  const auth = `Basic ${Buffer.from(`fastr:${token}`).toString("base64")}`;
  const pim = (method: string, url: string, body: unknown) =>
    fetch(`${app.url}/pim/api/${url}`, { method, headers: { "content-type": "application/json", authorization: auth }, body: JSON.stringify(body) }).then(async (r) => {
      if (!r.ok) throw new Error(`${method} ${url}: HTTP ${r.status} ${await r.text()}`);
    });
  const runId = "bench_run";
  await pim("POST", "runs/", registration(runId));
  const reported = await p.reportedRun.findFirstOrThrow({ where: { projectId: P, runName: runId } });
  const pimJob = (k: number) => ({ path: `root/add/add___add___s${k}`, title: "", description: "", status: 2, customData: { sample_id: [`s${k}`], sample_index: [k], errors: [] } });
  await pim("PUT", `runs/${runId}/jobs`, [pimJob(0)]);

  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await devSignIn(page, app.url, "owner@bench.invalid", "Owner");
    const rowsShown = (selector: string, text: string | null, n: number) =>
      page.waitForFunction(
        ([sel, t, want]) => [...document.querySelectorAll(sel as string)].filter((e) => t === null || (e.textContent ?? "").includes(t as string)).length >= (want as number),
        [selector, text, n] as const,
        { polling: "raf", timeout: 30_000 },
      );

    // A reported run: each round one more job, sent as fastr's reporter sends it.
    await page.goto(`${app.url}/projects/${P}/runs/external/${reported.id}`);
    await rowsShown("[data-job]", null, 1);
    await sleep(1_000);
    const pimDelay: number[] = [];
    for (let k = 1; k <= ROUNDS; k++) {
      const t0 = performance.now();
      await pim("PUT", `runs/${runId}/jobs`, [pimJob(k)]);
      await rowsShown("[data-job]", null, k + 1);
      pimDelay.push(performance.now() - t0);
      await sleep(200 + Math.random() * 300);
    }
    console.log(`delay from a job's state change to the open run page showing it, ${ROUNDS} changes each (goal p95 ≤ 1 s):`);
    console.log(`  run reported through /pim (PUT of a job update → row shown): ${fmt(pimDelay)}`);

    // An Atrium run: each round one job succeeds, written as the worker writes it.
    await page.goto(`${app.url}/projects/${P}/runs/${run.id}`);
    await page.getByRole("img", { name: "Pipeline graph" }).waitFor({ timeout: 30_000 });
    await rowsShown("tbody tr", "waiting", JOBS);
    await sleep(1_000);
    const ownDelay: number[] = [];
    for (let k = 1; k <= ROUNDS; k++) {
      const t0 = performance.now();
      await p.pipelineJob.update({ where: { id: run.jobs[k - 1]!.id }, data: { state: "succeeded", startedAt: new Date(), endedAt: new Date(), exitCode: 0 } });
      await rowsShown("tbody tr", "succeeded", k);
      ownDelay.push(performance.now() - t0);
      await sleep(200 + Math.random() * 300);
    }

    // Baseline: the same change seen by reloading the page (no live updates).
    const reload: number[] = [];
    for (let k = 0; k < Math.min(ROUNDS, 10); k++) {
      const t0 = performance.now();
      await page.reload();
      await rowsShown("tbody tr", "succeeded", ROUNDS);
      reload.push(performance.now() - t0);
    }
    console.log(`  Atrium run (job row updated in the database → state shown):  ${fmt(ownDelay)}`);
    console.log(`  baseline, same run: reloading the run page until it shows it:  ${fmt(reload)}`);

    if (MINUTES > 0) {
      const cdp = await page.context().newCDPSession(page);
      await cdp.send("Performance.enable");
      const heapMb = async () => {
        await cdp.send("HeapProfiler.collectGarbage");
        const m = await cdp.send("Performance.getMetrics");
        return m.metrics.find((x) => x.name === "JSHeapUsedSize")!.value / 1024 / 1024;
      };
      const samples: number[] = [await heapMb()];
      const job = run.jobs[JOBS - 1]!;
      const end = Date.now() + MINUTES * 60_000;
      let nextSample = Date.now() + 60_000;
      let updates = 0;
      while (Date.now() < end) {
        await p.pipelineJob.update({ where: { id: job.id }, data: { state: updates % 2 ? "succeeded" : "running" } });
        updates++;
        await sleep(1_000);
        if (Date.now() >= nextSample) {
          samples.push(await heapMb());
          nextSample += 60_000;
        }
      }
      await rowsShown("tbody tr", updates % 2 ? "running" : "succeeded", 1);
      console.log(`memory of the open Atrium run page over ${MINUTES} min (${updates} job state changes, one a second), JS heap after GC:`);
      console.log(`  at open ${samples[0]!.toFixed(1)} MB · after ${MINUTES} min ${samples.at(-1)!.toFixed(1)} MB · max ${Math.max(...samples).toFixed(1)} MB · per minute: ${samples.map((s) => s.toFixed(1)).join(" ")}`);
    }
  } finally {
    await browser.close();
  }
} finally {
  await bench.close();
}
