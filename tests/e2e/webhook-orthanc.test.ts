// Signed webhooks end to end, the way a site runs them: a real Orthanc whose Lua OnStableStudy
// (the very script the portal shows owners, with its pure-Lua HMAC-SHA256) posts to Atrium as
// `npm start` runs it; Atrium's worker pulls the study back by Orthanc's REST API, or by
// DICOMweb from Orthanc's DICOMweb plugin, and records and de-identifies every instance once.
// Forged, stale, replayed, malformed and oversized webhooks are refused and record nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { createTestDatabase } from "../helpers/pg";
import { freePort, startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { callerFor } from "../helpers/fixtures";
import { startOrthanc, type OrthancProcess } from "../helpers/orthanc";
import { devSignIn, launchChromium } from "../helpers/browser";
import { run } from "../dicom-net/helpers";
import { waitFor } from "../helpers/wait";
import { SAMPLES_DIR } from "@/lib/samples";
import { createSession, sessionUserFromToken } from "@/server/auth/session";
import { curlExample, LUA_HMAC_SHA256, orthancLuaExample } from "@/lib/webhooks/examples";
import { signWebhook } from "@/lib/webhooks/signature";
import { pullDelivery } from "@/server/webhooks/pull";
import { readPart10Info } from "@/lib/dicom-net/part10";

const STUDY_FILES = readdirSync(SAMPLES_DIR).filter((f) => f.startsWith("dwv__bbmri-")).sort().map((f) => path.join(SAMPLES_DIR, f));
const ORIGINAL_PATIENT_ID = "12.02.15-15:49:23-STD-1.3.12.2.1107.5.2.32.35162";
const ORIGINAL_STUDY_UID = "1.3.12.2.1107.5.2.32.35162.30000012020622041507900000157";
const OWNER = "webhook-owner@institute.test";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let app: AtriumProcess;
let orthanc: OrthancProcess;
let orthancWeb: OrthancProcess;
let recorder: Recorder;
let flaky: Flaky;
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-webhook-"));
const shots = process.env.ATRIUM_SCREENSHOTS;
let owner: Awaited<ReturnType<typeof sessionUserFromToken>>;
const sources: Record<string, { id: string; path: string; secret: string }> = {};

/** Forwards to Atrium and keeps every request it saw (so a delivered webhook can be replayed). */
interface Recorder { url: string; seen: Array<{ path: string; headers: Record<string, string>; body: Buffer; status: number }>; close(): void }
async function startRecorder(target: () => string): Promise<Recorder> {
  const seen: Recorder["seen"] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      const headers: Record<string, string> = {};
      for (const h of ["content-type", "x-atrium-timestamp", "x-atrium-signature"]) if (req.headers[h]) headers[h] = String(req.headers[h]);
      const r = await fetch(`${target()}${req.url}`, { method: req.method, headers, body });
      const text = await r.text();
      seen.push({ path: req.url!, headers, body, status: r.status });
      res.writeHead(r.status, { "content-type": "application/json" }).end(text);
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${port}`, seen, close: () => server.close() };
}

/** A proxy in front of a node that answers 503 to the first request for each path (a node having a bad moment). */
interface Flaky { url: string; failures: number; close(): void }
async function startFlaky(target: string): Promise<Flaky> {
  const tried = new Set<string>();
  const state = { failures: 0 };
  const server = http.createServer(async (req, res) => {
    if (!tried.has(req.url!)) {
      tried.add(req.url!);
      state.failures++;
      res.writeHead(503).end("busy");
      return;
    }
    const r = await fetch(`${target}${req.url}`, { headers: { accept: String(req.headers.accept ?? "*/*") } });
    res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/octet-stream" });
    res.end(Buffer.from(await r.arrayBuffer()));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${port}`, get failures() { return state.failures; }, close: () => server.close() };
}

const until = <T>(what: string, fn: () => Promise<T | null | undefined | false>) => waitFor(what, fn, { timeoutMs: 90_000, intervalMs: 300 });

async function projectWithOwner(id: string, ownerId: string) {
  await db.prisma.project.create({ data: { id, idLower: id.toLowerCase(), name: `Webhook ${id}`, members: { create: { userId: ownerId, role: "owner" } } } });
}

const counts = async () => ({
  deliveries: await db.prisma.webhookDelivery.count(),
  instances: await db.prisma.receivedInstance.count(),
});

beforeAll(async () => {
  db = await createTestDatabase();
  const u = await db.prisma.user.create({ data: { email: OWNER, name: "Webhook Owner" } });
  owner = await sessionUserFromToken(db.prisma, (await createSession(db.prisma, u.id)).token);
  for (const p of ["WH_ORTHANC", "WH_WEB", "WH_CURL", "WH_UI"]) await projectWithOwner(p, u.id);
  app = await startAtrium({
    DATABASE_URL: db.url,
    ATRIUM_DATA_DIR: dataDir,
    ATRIUM_QUEUE_PREFIX: process.env.ATRIUM_QUEUE_PREFIX,
    ATRIUM_SECRET_KEY: process.env.ATRIUM_SECRET_KEY,
  });
  recorder = await startRecorder(() => app.url);

  // Orthanc A (REST, behind basic auth) and Orthanc B (DICOMweb plugin, reached through a flaky proxy).
  const caller = callerFor(db.prisma, owner);
  const portA = await freePort();
  const portB = await freePort();
  flaky = await startFlaky(`http://127.0.0.1:${portB}`);
  const add = async (key: string, input: Parameters<typeof caller.webhook.create>[0]) => {
    const r = await caller.webhook.create(input);
    sources[key] = { id: r.id, path: r.path, secret: r.secret };
    return r;
  };
  const a = await add("orthanc", { projectId: "WH_ORTHANC", name: "Orthanc A", nodeKind: "orthanc", nodeUrl: `http://127.0.0.1:${portA}/`, nodeAuth: "basic", nodeUser: "atrium", nodeSecret: "pull-pw" });
  const b = await add("dicomweb", { projectId: "WH_WEB", name: "Orthanc B DICOMweb", nodeKind: "dicomweb", nodeUrl: `${flaky.url}/dicom-web` });
  await add("curl", { projectId: "WH_CURL", name: "curl", nodeKind: "orthanc", nodeUrl: `http://127.0.0.1:${portA}`, nodeAuth: "basic", nodeUser: "atrium", nodeSecret: "pull-pw" });
  orthanc = await startOrthanc({ httpPort: portA, users: { atrium: "pull-pw" }, lua: [orthancLuaExample({ url: `${recorder.url}${a.path}`, secret: a.secret, nodeKind: "orthanc" })] });
  orthancWeb = await startOrthanc({ httpPort: portB, dicomweb: true, lua: [orthancLuaExample({ url: `${recorder.url}${b.path}`, secret: b.secret, nodeKind: "dicomweb" })] });
}, 240_000);

afterAll(async () => {
  await orthanc?.stop();
  await orthancWeb?.stop();
  recorder?.close();
  flaky?.close();
  await app?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("Orthanc's Lua (5.3) signs like Node", () => {
  it("computes the same HMAC-SHA256 as node:crypto for short, block-edge, multi-block and long-key inputs", async () => {
    const vectors: Array<[string, string]> = [["", ""], ["key", "The quick brown fox jumps over the lazy dog"], ["s", "x".repeat(55)], ["s", "x".repeat(56)], ["s", "x".repeat(64)], ["k".repeat(100), "a".repeat(1000)], ["whsec_é", '1795603729.{"study":"ü"}']];
    const lua = [
      `print("LUA_VERSION=" .. _VERSION)`,
      LUA_HMAC_SHA256,
      ...vectors.map(([k, m], i) => `print("VEC${i}=" .. atrium_hmac_sha256_hex(${JSON.stringify(k)}, ${JSON.stringify(m)}))`),
    ].join("\n");
    const o = await startOrthanc({ lua: [lua] });
    try {
      const log = o.log();
      expect(log).toMatch(/LUA_VERSION=Lua 5\.3/);
      vectors.forEach(([k, m], i) => {
        const got = new RegExp(`VEC${i}=([0-9a-f]{64})`).exec(log)?.[1];
        expect(got, `vector ${i}`).toBe(createHmac("sha256", Buffer.from(k, "utf8")).update(Buffer.from(m, "utf8")).digest("hex"));
      });
    } finally {
      await o.stop();
    }
  });
});

async function deliveriesDone(sourceId: string, n: number) {
  return until(`${n} finished deliveries`, async () => {
    const d = await db.prisma.webhookDelivery.findMany({ where: { sourceId }, orderBy: { receivedAt: "asc" } });
    return d.length >= n && d.every((x) => x.status === "done" || x.status === "failed") ? d : null;
  });
}

async function allDeidentified(projectId: string) {
  return until("de-identification", async () => {
    const rows = await db.prisma.receivedInstance.findMany({ where: { projectId } });
    return rows.length && rows.every((r) => r.status !== "received") ? rows : null;
  });
}

/** The stored file is DICOM and no longer carries the original Patient ID or Study Instance UID. */
async function assertDeidentified(outputPath: string) {
  const file = path.join(dataDir, outputPath);
  expect((await readPart10Info(file)).sopInstanceUid).toMatch(/^2\.25\.|^[0-9.]+$/);
  const bytes = readFileSync(file);
  expect(bytes.includes(Buffer.from(ORIGINAL_PATIENT_ID))).toBe(false);
  expect(bytes.includes(Buffer.from(ORIGINAL_STUDY_UID))).toBe(false);
}

describe("an Orthanc REST source", () => {
  it("pulls every instance of a study Orthanc announces, records and de-identifies each exactly once", async () => {
    const r = await run("storescu", ["-aec", orthanc.aet, "127.0.0.1", String(orthanc.dicomPort), ...STUDY_FILES], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const [delivery] = await deliveriesDone(sources.orthanc!.id, 1);
    expect(delivery).toMatchObject({ status: "done", instancesListed: STUDY_FILES.length, instancesPulled: STUDY_FILES.length, instancesFailed: 0, attempts: 1, error: null });
    const rows = await allDeidentified("WH_ORTHANC");
    expect(rows).toHaveLength(STUDY_FILES.length);
    expect(rows.every((x) => x.channel === "webhook" && x.batchId === delivery!.id && x.status === "deidentified")).toBe(true);
    expect(new Set(rows.map((x) => x.sopInstanceUid)).size).toBe(STUDY_FILES.length);
    for (const x of rows) await assertDeidentified(x.outputPath!);
    expect(await db.prisma.webhookPulledInstance.count({ where: { deliveryId: delivery!.id, instanceId: { not: null } } })).toBe(STUDY_FILES.length);
    // Orthanc logged no failed post, and Atrium's log never names the study.
    const studyId = ((await (await orthanc.rest("/studies")).json()) as string[])[0]!;
    expect(orthanc.log()).not.toMatch(/Atrium webhook: the post failed/);
    expect(app.output()).not.toContain(studyId);
    expect(app.output()).not.toContain(ORIGINAL_PATIENT_ID);
  }, 120_000);

  it("refuses a replay of the delivered webhook (409) and records nothing for it", async () => {
    const sent = recorder.seen.find((s) => s.path === sources.orthanc!.path && s.status === 202)!;
    expect(sent).toBeDefined();
    const before = await counts();
    const replay = await fetch(`${app.url}${sent.path}`, { method: "POST", headers: sent.headers, body: new Uint8Array(sent.body) });
    expect(replay.status).toBe(409);
    expect(((await replay.json()) as { error: string }).error).toMatch(/already accepted \(a replay\)/);
    expect(await counts()).toEqual(before);
  });

  it("a retried pull records nothing twice, even after losing track of what it pulled", async () => {
    const delivery = (await db.prisma.webhookDelivery.findFirst({ where: { sourceId: sources.orthanc!.id } }))!;
    const before = await counts();
    // As if the worker died after recording the instances but before remembering them.
    await db.prisma.webhookPulledInstance.deleteMany({ where: { deliveryId: delivery.id } });
    await db.prisma.webhookDelivery.update({ where: { id: delivery.id }, data: { status: "pulling", instancesPulled: 0 } });
    const r = await pullDelivery(db.prisma, dataDir, delivery.id);
    expect(r).toMatchObject({ outcome: "done", pulled: STUDY_FILES.length, failed: 0 });
    expect(await counts()).toEqual(before);
    // And a second run of a finished delivery does nothing.
    await db.prisma.webhookDelivery.update({ where: { id: delivery.id }, data: { status: "pulling" } });
    await pullDelivery(db.prisma, dataDir, delivery.id);
    expect(await counts()).toEqual(before);
    expect(await db.prisma.webhookPulledInstance.count({ where: { deliveryId: delivery.id } })).toBe(STUDY_FILES.length);
  }, 60_000);

  it("the curl command shown to owners works as written", async () => {
    const studyId = ((await (await orthanc.rest("/studies")).json()) as string[])[0]!;
    const script = curlExample({ url: `${app.url}${sources.curl!.path}`, secret: sources.curl!.secret, nodeKind: "orthanc" }).replace("<Orthanc study id>", studyId);
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ accepted: true });
    const [d] = await deliveriesDone(sources.curl!.id, 1);
    expect(d).toMatchObject({ status: "done", instancesPulled: STUDY_FILES.length });
    expect(await db.prisma.receivedInstance.count({ where: { projectId: "WH_CURL" } })).toBe(STUDY_FILES.length);
  }, 90_000);
});

describe("a DICOMweb source (Orthanc's DICOMweb plugin)", () => {
  it("pulls the study by QIDO-RS and WADO-RS, through a node that fails each first request", async () => {
    for (const f of STUDY_FILES) {
      const res = await orthancWeb.rest("/instances", { method: "POST", body: readFileSync(f), headers: { "content-type": "application/dicom" } });
      expect(res.status).toBe(200);
    }
    const [delivery] = await deliveriesDone(sources.dicomweb!.id, 1);
    expect(delivery).toMatchObject({ status: "done", instancesListed: STUDY_FILES.length, instancesPulled: STUDY_FILES.length, attempts: 1 });
    expect(delivery!.body).toHaveProperty("studyInstanceUid");
    // One 503 for the listing and one per instance, each retried with backoff inside the job.
    expect(flaky.failures).toBe(STUDY_FILES.length + 1);
    const rows = await allDeidentified("WH_WEB");
    expect(rows).toHaveLength(STUDY_FILES.length);
    expect(rows.every((x) => x.status === "deidentified" && x.batchId === delivery!.id)).toBe(true);
    for (const x of rows) await assertDeidentified(x.outputPath!);
    expect(app.output()).not.toContain(ORIGINAL_STUDY_UID);
  }, 120_000);
});

describe("bad webhooks are refused with a clear reason, and record nothing", () => {
  const body = '{"study":"0a1b2c3d-0a1b2c3d-0a1b2c3d-0a1b2c3d-0a1b2c3d"}';
  const post = (p: string, headers: Record<string, string>, b: string = body) =>
    fetch(`${app.url}${p}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: b });

  it.each([
    ["an unknown source", 404, async () => post("/api/webhooks/wh_nosuchsource", signWebhook("x", body)), /No webhook source has this URL/],
    ["no signature", 401, async () => post(sources.curl!.path, {}), /Missing X-Atrium-Timestamp or X-Atrium-Signature/],
    ["a forged signature", 401, async () => post(sources.curl!.path, signWebhook("not-the-secret", body)), /signature does not match/],
    ["a signature of another body", 401, async () => post(sources.curl!.path, signWebhook(sources.curl!.secret, body.replace("0a1b", "0a1c")), body), /signature does not match/],
    ["a stale timestamp", 401, async () => post(sources.curl!.path, signWebhook(sources.curl!.secret, body, Math.floor(Date.now() / 1000) - 600)), /s behind this server's clock/],
    ["a future timestamp", 401, async () => post(sources.curl!.path, signWebhook(sources.curl!.secret, body, Math.floor(Date.now() / 1000) + 600)), /s ahead of this server's clock/],
    ["a body that is not JSON", 400, async () => post(sources.curl!.path, signWebhook(sources.curl!.secret, "study=1"), "study=1"), /not JSON/],
    ["a body naming no study", 400, async () => post(sources.curl!.path, signWebhook(sources.curl!.secret, '{"patient":"x"}'), '{"patient":"x"}'), /patient|Name exactly one study/],
    ["a body of the other node kind", 400, async () => post(sources.curl!.path, signWebhook(sources.curl!.secret, '{"studyInstanceUid":"1.2.3"}'), '{"studyInstanceUid":"1.2.3"}'), /pulls from Orthanc/],
    [
      "a too large body",
      413,
      async () => {
        const big = JSON.stringify({ study: "x", pad: "y".repeat(40_000) });
        return post(sources.curl!.path, signWebhook(sources.curl!.secret, big), big);
      },
      /larger than 16 KB/,
    ],
  ] as const)("%s → %i", async (_what, status, send, message) => {
    const before = await counts();
    const r = await send();
    expect(r.status).toBe(status);
    expect(((await r.json()) as { error: string }).error).toMatch(message);
    expect(await counts()).toEqual(before);
  });

  it("a disabled source → 404, and it works again once enabled", async () => {
    const caller = callerFor(db.prisma, owner);
    await caller.webhook.setEnabled({ projectId: "WH_CURL", sourceId: sources.curl!.id, enabled: false });
    const before = await counts();
    const r = await post(sources.curl!.path, signWebhook(sources.curl!.secret, body));
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: string }).error).toMatch(/disabled/);
    expect(await counts()).toEqual(before);
    await caller.webhook.setEnabled({ projectId: "WH_CURL", sourceId: sources.curl!.id, enabled: true });
    // A study Orthanc does not have: accepted (202), then the delivery fails with a reason.
    const ok = await post(sources.curl!.path, signWebhook(sources.curl!.secret, body));
    expect(ok.status).toBe(202);
    const d = await until("the failed delivery", async () => {
      const x = await db.prisma.webhookDelivery.findFirst({ where: { sourceId: sources.curl!.id, status: "failed" } });
      return x;
    });
    expect(d.error).toMatch(/does not have the study's instance list \(HTTP 404\)/);
  }, 60_000);

  it("a rotated secret replaces the old one at once", async () => {
    const caller = callerFor(db.prisma, owner);
    const { secret } = await caller.webhook.rotateSecret({ projectId: "WH_CURL", sourceId: sources.curl!.id });
    const oldSig = await post(sources.curl!.path, signWebhook(sources.curl!.secret, body));
    expect(oldSig.status).toBe(401);
    sources.curl!.secret = secret;
  });
});

describe("the owner's webhook page", () => {
  let browser: Browser;
  let page: Page;
  afterAll(async () => browser?.close());

  it("creates a source, shows its secret once with the senders, and lists deliveries", async () => {
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await devSignIn(page, app.url, OWNER, "Webhook Owner");

    await page.goto(`${app.url}/projects/WH_ORTHANC?tab=intake`);
    await page.getByText("Orthanc A").waitFor();
    await page.getByText(`${STUDY_FILES.length} of ${STUDY_FILES.length} pulled`).waitFor();
    if (shots) await page.screenshot({ path: `${shots}/webhooks-list.png`, fullPage: true });

    await page.getByRole("button", { name: "Add webhook source" }).click();
    await page.getByText("Give the source a name").waitFor();
    await page.getByLabel("Name", { exact: true }).fill("Research PACS");
    await page.getByText("DICOMweb (WADO-RS)").click();
    await page.getByLabel("DICOMweb root URL").fill("http://pacs.example:8042/dicom-web");
    await page.getByRole("button", { name: "Add webhook source" }).click();
    const secretEl = page.getByTestId("webhook-secret");
    await secretEl.waitFor();
    const secret = (await secretEl.textContent())!;
    expect(secret).toMatch(/^whsec_/);
    await page.getByText("OnStableStudy").first().waitFor();
    if (shots) await page.screenshot({ path: `${shots}/webhooks-created.png` });
    await page.getByRole("tab", { name: "curl" }).click();
    await page.getByText("openssl dgst -sha256 -hmac").waitFor();
    if (shots) await page.screenshot({ path: `${shots}/webhooks-created-curl.png` });

    // The secret on the screen is the one Atrium checks.
    const created = (await db.prisma.webhookSource.findFirst({ where: { projectId: "WH_ORTHANC", name: "Research PACS" } }))!;
    const b = '{"studyInstanceUid":"1.2.3.4"}';
    const r = await fetch(`${app.url}/api/webhooks/${created.id}`, { method: "POST", headers: signWebhook(secret, b), body: b });
    expect(r.status).toBe(202);

    await page.getByRole("button", { name: "I have copied it" }).click();
    await secretEl.waitFor({ state: "detached" });
    await page.getByLabel("Disable Research PACS").click({ force: true });
    await until("disabled", async () => !(await db.prisma.webhookSource.findUniqueOrThrow({ where: { id: created.id } })).enabled);
    const audit = await db.prisma.auditEvent.findMany({ where: { projectId: "WH_ORTHANC", targetId: created.id }, orderBy: { id: "asc" } });
    expect(audit.map((a) => a.action)).toEqual(["webhook.create", "webhook.disable"]);
    expect(JSON.stringify(audit, (_k, v) => (typeof v === "bigint" ? v.toString() : v))).not.toContain(secret);
    if (shots) await page.screenshot({ path: `${shots}/webhooks-after.png`, fullPage: true });
  }, 120_000);
});
