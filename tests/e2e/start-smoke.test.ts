// `npm start` on a fresh machine: the embedded PGlite database, migrated automatically; the portal
// and the workers in one process; a private redis-server when nothing answers at REDIS_URL;
// graceful stop on SIGTERM; data kept across restarts.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { freePort, startAtrium, startAtriumExpectingFailure, type AtriumProcess } from "../helpers/atrium-process";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-smoke-"));
const prefix = `atrium-smoke-${process.pid}`;
let running: AtriumProcess | null = null;

afterAll(async () => {
  await running?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function trpc(app: AtriumProcess, cookie: string, proc: string, input: unknown) {
  const res = await fetch(`${app.url}/api/trpc/${proc}`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie },
    body: JSON.stringify({ json: input }),
  });
  return { status: res.status, body: (await res.json()) as { result?: { data: { json: unknown } }; error?: { json: { message: string } } } };
}

describe("npm start with the embedded default", () => {
  let cookie = "";

  it("starts on PGlite without DATABASE_URL, migrates, and reports itself healthy with its workers", async () => {
    running = await startAtrium({ ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: prefix, DATABASE_URL: undefined, ATRIUM_METRICS_TOKEN: "smoke-metrics-token" });
    const health = (await (await fetch(`${running.url}/api/health`)).json()) as Record<string, { ok: boolean; detail?: string }>;
    expect(health.database).toMatchObject({ ok: true, detail: "pglite" });
    expect(health.redis!.ok).toBe(true);
    expect(health.workers!.detail).toMatch(/^[1-9]\d* connected$/);
    expect(existsSync(path.join(dataDir, "pgdata"))).toBe(true);
    expect(running.output()).toContain("migrations applied");
  });

  it("sends a visitor to the sign-in page, which offers the development sign-in", async () => {
    const root = await fetch(`${running!.url}/`, { redirect: "manual" });
    expect(root.status).toBe(307);
    expect(root.headers.get("location")).toMatch(/\/signin$/);
    const page = await (await fetch(`${running!.url}/signin`)).text();
    expect(page).toContain("Development sign-in");
  });

  it("signs in with the development sign-in and creates a project through the API", async () => {
    const res = await fetch(`${running!.url}/api/dev-signin`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "email=Dev%40Atrium.test&name=Dev&callbackUrl=%2Fprojects",
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/projects");
    cookie = res.headers.get("set-cookie")!.split(";")[0]!;
    const created = await trpc(running!, cookie, "project.create", { id: "SMOKE", name: "Smoke test" });
    expect(created.status).toBe(200);
    const me = await fetch(`${running!.url}/api/trpc/me.get`, { headers: { cookie } });
    expect(((await me.json()) as { result: { data: { json: { email: string } } } }).result.data.json.email).toBe("dev@atrium.test");
    const projects = await fetch(`${running!.url}/projects`, { headers: { cookie } });
    expect(projects.status).toBe(200);
  });

  it("answers bad input over HTTP with a readable message, and unknown callers with 401", async () => {
    const bad = await trpc(running!, cookie, "project.create", { id: "9 lives", name: "x" });
    expect(bad.status).toBe(400);
    expect(bad.body.error!.json.message).toMatch(/^id: Project id must be 2–32 characters/);
    const anon = await trpc(running!, "", "project.create", { id: "ANON", name: "x" });
    expect(anon.status).toBe(401);
    expect(anon.body.error!.json.message).toBe("Sign in to continue.");
    const forged = await trpc(running!, "next-auth.session-token=0123456789abcdef", "project.create", { id: "FORGED", name: "x" });
    expect(forged.status).toBe(401);
  });

  it("serves Prometheus metrics to the scraper's token (ATRIUM_METRICS_TOKEN)", async () => {
    expect((await fetch(`${running!.url}/metrics`)).status).toBe(401);
    const text = await (await fetch(`${running!.url}/metrics`, { headers: { authorization: "Bearer smoke-metrics-token" } })).text();
    expect(text).toMatch(/^atrium_queue_jobs\{.*queue="health".*\} \d+$/m);
    expect(text).toMatch(/^atrium_http_requests_total\{.*route="api\/trpc".*\} \d+$/m);
    expect(text).not.toContain("dev@atrium.test");
  });

  it("stops gracefully on SIGTERM", async () => {
    const code = await running!.stop();
    expect(code).toBe(0);
    expect(running!.output()).toContain("workers stopped");
    running = null;
  });

  it("restarts on the same data (nothing to migrate), with a private redis-server when none answers, and in production without the development sign-in", async () => {
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    running = await startAtrium({
      ATRIUM_DATA_DIR: dataDir,
      ATRIUM_QUEUE_PREFIX: prefix,
      DATABASE_URL: undefined,
      REDIS_URL: deadRedis,
      NODE_ENV: "production",
      ATRIUM_DEV_SIGNIN: "1",
    });
    expect(running.output()).not.toContain("migrations applied");
    expect(running.output()).toContain("started a private redis-server");
    const health = (await (await fetch(`${running.url}/api/health`)).json()) as Record<string, { ok: boolean }>;
    expect(health.redis!.ok).toBe(true);
    const list = await fetch(`${running.url}/api/trpc/project.list`, { headers: { cookie } });
    const projects = ((await list.json()) as { result: { data: { json: { id: string }[] } } }).result.data.json;
    expect(projects.map((p) => p.id)).toEqual(["SMOKE"]);
    const dev = await fetch(`${running.url}/api/dev-signin`, { method: "POST", body: new URLSearchParams({ email: "x@atrium.test" }) });
    expect(dev.status).toBe(404);
    expect(await (await fetch(`${running.url}/signin`)).text()).not.toContain("Development sign-in");
    expect(await running.stop()).toBe(0);
    running = null;
  });

  it("without Redis and without redis-server, stops with one line saying how to get Redis", async () => {
    const { code, output } = await startAtriumExpectingFailure({
      ATRIUM_DATA_DIR: dataDir,
      DATABASE_URL: undefined,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      PATH: "/nonexistent",
      PORT: String(await freePort()),
    });
    expect(code).toBe(1);
    expect(output.trim()).toMatch(/^atrium: No Redis answers at redis:\/\/127\.0\.0\.1:\d+ and redis-server is not installed\. Install it .* or set REDIS_URL/);
    expect(output.trim().split("\n")).toHaveLength(1);
  });

  it("with its port taken, stops at once with one line saying what to do", async () => {
    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, r));
    try {
      const { code, output } = await startAtriumExpectingFailure({ ATRIUM_DATA_DIR: dataDir, DATABASE_URL: undefined, PORT: String(port) });
      expect(code).toBe(1);
      expect(output.trim()).toBe(
        `atrium: port ${port} is already in use. Stop what is using it, or start on another port: PORT=3001 npm start (or atrium start --port 3001).`,
      );
    } finally {
      blocker.close();
    }
  });
});
