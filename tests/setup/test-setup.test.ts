// `npm test` sets itself up (scripts/test-setup.mjs): it finds what is missing, says which Debian
// package provides it and the one command to run, and starts a local Redis that does not answer.
// Nothing is uninstalled here: a PATH without the tools stands for a machine without them.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JavaScript module without types
import { installCommand, missingRequirements, REQUIREMENTS } from "../../scripts/test-setup.mjs";
import { freePort } from "../../lib/net";
import { slowestFiles } from "./slowest-files";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const SCRIPT = path.join(ROOT, "scripts", "test-setup.mjs");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A PATH folder holding only these programs (links to the real ones). */
function pathWith(tools: string[]): string {
  const d = mkdtempSync(path.join(tmpdir(), "atrium-path-"));
  dirs.push(d);
  for (const t of ["node", ...tools]) {
    const real = spawnSync("bash", ["-c", `command -v ${t}`], { encoding: "utf8" }).stdout.trim();
    expect(real, `${t} on this machine`).not.toBe("");
    symlinkSync(real, path.join(d, t));
  }
  return d;
}

type Req = { what: string; pkg: string };

describe("npm test's setup step", () => {
  it("finds everything on this machine", () => {
    expect(missingRequirements(process.env).map((r: Req) => r.pkg)).toEqual([]);
  });

  it("names the package of each missing tool: DCMTK without findscu, Orthanc, Redis…", () => {
    const all = ["storescu", "storescp", "echoscu", "findscu", "dcmdump", "dcmodify", "dcmcrle", "dcmdrle", "Orthanc", "redis-server", "redis-cli", "psql", "pg_isready", "tar", "dcm2niix", "dciodvfy", "promtool", "sbatch", "squeue", "scontrol", "scancel", "sinfo", "slurmctld", "slurmd", "munged"];
    expect(missingRequirements({ PATH: pathWith(all) }).map((r: Req) => r.pkg)).toEqual([]);
    expect(missingRequirements({ PATH: pathWith(all.filter((t) => t !== "findscu")) }).map((r: Req) => r.pkg)).toEqual(["dcmtk"]);
    expect(missingRequirements({ PATH: pathWith(all.filter((t) => t !== "Orthanc" && t !== "redis-cli")) }).map((r: Req) => r.pkg)).toEqual(["orthanc", "redis-server"]);
    expect(missingRequirements({ PATH: pathWith(all), ATRIUM_CHROMIUM: "/nonexistent/chromium", ATRIUM_ORTHANC_DICOMWEB: "/nonexistent/plugin.so" }).map((r: Req) => r.pkg)).toEqual([
      "orthanc-dicomweb",
      "chromium",
    ]);
    expect(REQUIREMENTS.map((r: Req) => r.pkg)).toEqual(expect.arrayContaining(["dcmtk", "orthanc", "orthanc-dicomweb", "chromium", "fonts-dejavu-core", "redis-server", "slurm-wlm", "munge", "dicom3tools"]));
  });

  it("prints the one apt-get command and stops within seconds when it may not install", () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [SCRIPT], { encoding: "utf8", env: { ...process.env, PATH: pathWith(["tar", "psql", "pg_isready", "redis-server", "redis-cli"]), ATRIUM_TEST_INSTALL: "0" } });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("npm test cannot run yet");
    expect(r.stderr).toContain("DCMTK");
    expect(r.stderr).toContain(installCommand(["dcmtk", "orthanc"]));
    expect(installCommand(["dcmtk", "orthanc"], false)).toBe("sudo apt-get update && sudo apt-get install -y --no-install-recommends dcmtk orthanc");
  });

  it("passes quickly when everything is there", () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [SCRIPT], { encoding: "utf8", env: { ...process.env, ATRIUM_TEST_SETUP_VERBOSE: "1" } });
    expect(r.stderr).toMatch(/all present \(\d+ ms\)/);
    expect(r.status).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("starts a local redis-server when nothing answers at REDIS_URL", async () => {
    const port = await freePort();
    const r = spawnSync(process.execPath, [SCRIPT], { encoding: "utf8", env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${port}` } });
    try {
      expect(r.stderr).toContain(`starting redis-server on port ${port}`);
      expect(r.status).toBe(0);
      const ping = spawnSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8" });
      expect(ping.stdout.trim()).toBe("PONG");
    } finally {
      await new Promise((resolve) => spawn("redis-cli", ["-p", String(port), "shutdown", "nosave"], { stdio: "ignore" }).once("exit", resolve));
    }
  });
});

describe("the slowest test files report", () => {
  it("lists the ten slowest files, slowest first, with their times", () => {
    const rows = Array.from({ length: 12 }, (_, i) => ({ file: `tests/f${i}.test.ts`, ms: (i + 1) * 1000, tests: i, state: i === 11 ? "failed" : "passed" }));
    const lines = slowestFiles(rows, 10, 60_000);
    expect(lines).toHaveLength(11);
    expect(lines[0]).toBe("Slowest 10 test files of 12 (file wall time; 78.0 s summed over files, 60.0 s for the run):");
    expect(lines[1]).toMatch(/^\s+12\.0 s {2}tests\/f11\.test\.ts\s+11 tests {2}\(failed\)$/);
    expect(lines[10]).toMatch(/^\s+3\.0 s {2}tests\/f2\.test\.ts/);
  });
});
