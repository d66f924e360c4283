// A newcomer's first minute: `npm start` on the embedded database, then `atrium seed-demo` creates
// project DEMO and sends the samples; `atrium status --project DEMO` (through the running Atrium,
// since the embedded database serves one process) shows them arriving and de-identified, and
// `storescu -aec DEMO` works out of the box.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, ROOT, startAtrium, type AtriumProcess } from "../helpers/atrium-process";
import { uncompressedSingleFrameSamples } from "../helpers/corpus";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-seed-"));
let app: AtriumProcess;
let dicomPort: number;

function atrium(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ATRIUM_DATA_DIR: dataDir, PORT: String(app.port), ATRIUM_LOG_LEVEL: "warn", ...env };
    delete childEnv.DATABASE_URL;
    const c = spawn(process.execPath, [path.join(ROOT, "bin", "atrium.mjs"), ...args], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (out += d));
    c.on("close", (code) => resolve({ code, out }));
  });
}

beforeAll(async () => {
  dicomPort = await freePort();
  app = await startAtrium({ ATRIUM_DATA_DIR: dataDir, ATRIUM_DICOM_PORT: String(dicomPort), ATRIUM_QUEUE_PREFIX: `atrium-seed-${process.pid}` });
}, 180_000);

afterAll(async () => {
  await app?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("atrium seed-demo", () => {
  it("creates DEMO, sends the samples, and status shows them de-identified", async () => {
    const seeded = await atrium(["seed-demo", "--owner", "newcomer@atrium.test"]);
    expect(seeded.code, seeded.out).toBe(0);
    expect(seeded.out).toMatch(/project DEMO created/);
    expect(seeded.out).toMatch(/sent \d+ instances/);

    let status: { instances: { total: number; received: number; deidentified: number; review: number } } | null = null;
    const deadline = Date.now() + 240_000;
    for (;;) {
      const r = await atrium(["status", "--project", "DEMO", "--json"]);
      expect(r.code, r.out).toBe(0);
      status = JSON.parse(r.out.slice(r.out.indexOf("{")));
      if (status!.instances.total > 0 && status!.instances.received === 0) break;
      if (Date.now() > deadline) throw new Error(`not done: ${r.out}`);
      await new Promise((res) => setTimeout(res, 1000));
    }
    expect(status!.instances.total).toBeGreaterThanOrEqual(60);
    // Ultrasound and secondary-capture samples are held for a pixel review (burned-in text possible).
    expect(status!.instances.deidentified).toBeGreaterThanOrEqual(40);
    expect(status!.instances.review).toBeGreaterThanOrEqual(15);

    // Again: the project is there already, nothing breaks (the resend is recorded as duplicates).
    const again = await atrium(["seed-demo"]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/already there/);
  }, 400_000);

  it("lets storescu send to DEMO out of the box", async () => {
    const [file] = await uncompressedSingleFrameSamples();
    const r = await new Promise<number | null>((resolve) =>
      spawn("storescu", ["-aec", "DEMO", "127.0.0.1", String(dicomPort), file!], { env: { ...process.env, TCP_NODELAY: "1" }, stdio: "ignore" }).on("close", resolve),
    );
    expect(r).toBe(0);
  });

  it("refuses the operator API without the data directory's token", async () => {
    const r = await fetch(`${app.url}/api/internal/seed-demo`, { method: "POST", headers: { authorization: "Bearer wrong" } });
    expect(r.status).toBe(401);
    expect((await r.json()).error).toMatch(/Operator token/);
    const s = await fetch(`${app.url}/api/internal/status?project=DEMO`);
    expect(s.status).toBe(401);
  });

  it("says how to start Atrium when nothing runs", async () => {
    const r = await atrium(["seed-demo", "--url", `http://127.0.0.1:${await freePort()}`]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/Start Atrium first/);
  });
});
