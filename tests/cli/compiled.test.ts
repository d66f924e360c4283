// The `atrium` command runs compiled ahead of time (bin/cli-build.mjs): no TypeScript compilation
// at start, and `atrium --help` loads no package at all (each command loads what it needs in run()).
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JavaScript module without types
import { buildCli, currentBuild, sourceStamp } from "../../bin/cli-build.mjs";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const ATRIUM = path.join(ROOT, "bin", "atrium.mjs");
let dir: string;

beforeAll(async () => {
  dir = (await buildCli()) as string;
}, 60_000);

/** The packages a compiled module loads before it runs: the closure of its static imports. */
function staticPackages(file: string, seen = new Set<string>(), out = new Set<string>()): Set<string> {
  if (seen.has(file)) return out;
  seen.add(file);
  const src = readFileSync(path.join(dir, file), "utf8");
  for (const m of src.matchAll(/^(?:import|export)\s(?:[^;"']*?\sfrom\s*)?["']([^"']+)["']/gm)) {
    const spec = m[1]!;
    if (spec.startsWith("./")) staticPackages(spec.slice(2), seen, out);
    else if (!spec.startsWith("node:")) out.add(spec);
  }
  return out;
}

describe("the compiled atrium command", () => {
  it("is what bin/atrium.mjs runs, and is current for the sources", () => {
    expect(currentBuild()).toBe(dir);
    const r = spawnSync(process.execPath, [ATRIUM, "--help"], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: atrium <command>/);
    expect(r.stdout).toMatch(/^ {2}status {7}/m);
    expect(r.stderr).toBe("");
  });

  it("`atrium --help` and each command's --help load no package: heavy modules load inside run()", () => {
    const commands = readdirSync(path.join(ROOT, "cli", "commands")).filter((f) => f.endsWith(".ts")).map((f) => f.slice(0, -3));
    expect(commands.length).toBeGreaterThan(3);
    const loaded: Record<string, string[]> = { main: [...staticPackages("main.mjs")] };
    for (const c of commands) {
      const chunk = readdirSync(dir).find((f) => f.startsWith(`${c}-`) && f.endsWith(".mjs"));
      expect(chunk, `compiled chunk of cli/commands/${c}.ts`).toBeDefined();
      loaded[c] = [...staticPackages(chunk!)];
    }
    expect(loaded).toEqual(Object.fromEntries(Object.keys(loaded).map((k) => [k, []])));
  });

  it("runs the de-identification thread entry compiled, without tsx", async () => {
    const url = pathToFileURL(path.join(dir, "deid-thread.mjs")).href;
    const w = new Worker(`import(${JSON.stringify(url)}).then((m) => require("node:worker_threads").parentPort.postMessage(typeof m.default), (e) => require("node:worker_threads").parentPort.postMessage(String(e)))`, { eval: true, execArgv: [] });
    const answer = await new Promise((resolve) => w.once("message", resolve));
    await w.terminate();
    expect(answer).toBe("function");
    // The compiled workers point BullMQ at this entry, not at the tsx loader.
    const workersChunk = readdirSync(dir).filter((f) => f.endsWith(".mjs")).map((f) => readFileSync(path.join(dir, f), "utf8")).find((s) => s.includes("workers/index.ts"));
    expect(workersChunk).toContain(JSON.stringify(dir));
  });

  it("falls back to the TypeScript sources with ATRIUM_CLI_FROM_SOURCE=1", () => {
    const r = spawnSync(process.execPath, [ATRIUM, "status", "--help"], { cwd: ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, ATRIUM_CLI_FROM_SOURCE: "1" } });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: atrium status/);
  });
});

describe("the compiled CLI's staleness check", () => {
  let copy: string;
  beforeAll(() => {
    copy = mkdtempSync(path.join(tmpdir(), "atrium-stamp-"));
    for (const d of ["cli", "lib", "server", "workers"]) cpSync(path.join(ROOT, d), path.join(copy, d), { recursive: true, filter: (p) => !p.includes("generated") });
  });
  afterAll(() => rmSync(copy, { recursive: true, force: true }));

  it("changes when a source changes, is added or is removed, and not otherwise", () => {
    const a = sourceStamp(copy);
    expect(sourceStamp(copy)).toBe(a);
    const f = path.join(copy, "lib", "config.ts");
    const future = new Date(Date.now() + 60_000);
    utimesSync(f, future, future);
    const b = sourceStamp(copy);
    expect(b).not.toBe(a);
    writeFileSync(path.join(copy, "cli", "commands", "extra.ts"), "export const summary = 'x';\n");
    const c = sourceStamp(copy);
    expect(c).not.toBe(b);
    rmSync(path.join(copy, "cli", "commands", "extra.ts"));
    expect(sourceStamp(copy)).not.toBe(c);
  });
});
