// server/viewer/assets: the frame fetcher worker's and the viewer's scripts' URLs as the build
// recorded them (next.config.ts), put into the viewer page's HTML only when they are paths of the
// build's own static scripts.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { viewerAssets } from "@/server/viewer/assets";
import { VIEWER_ASSETS_FILE } from "@/components/viewer/names";

const dir = mkdtempSync(path.join(os.tmpdir(), "atrium-viewer-assets-"));
const file = path.join(dir, ".next", VIEWER_ASSETS_FILE);
const saved = process.env.ATRIUM_PORTAL_DIR;
afterAll(() => {
  if (saved === undefined) delete process.env.ATRIUM_PORTAL_DIR;
  else process.env.ATRIUM_PORTAL_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

let tick = 1_700_000_000;
function record(frameFetcher: unknown, viewerScripts: unknown = []) {
  writeFileSync(file, JSON.stringify({ frameFetcher, viewerScripts }));
  tick += 10; // a new build: a new modification time
  utimesSync(file, tick, tick);
}

describe("viewerAssets", () => {
  it("reads the build's record, and refuses what is not one of its static scripts", () => {
    process.env.ATRIUM_PORTAL_DIR = dir;
    expect(viewerAssets()).toEqual({ frameFetcher: null, viewerScripts: [] }); // no build recorded it
    mkdirSync(path.dirname(file), { recursive: true });
    const scripts = ["/_next/static/chunks/atrium-viewer.0a1b.js", "/_next/static/chunks/8061.5756da5b25af3e58.js"];
    record("/_next/static/chunks/atrium-frame-fetcher.0123abcd.js", scripts);
    expect(viewerAssets()).toEqual({ frameFetcher: "/_next/static/chunks/atrium-frame-fetcher.0123abcd.js", viewerScripts: scripts });
    for (const bad of ["https://elsewhere.example/w.js", "/_next/static/../../x.js", "/_next/static/w.js\"", "javascript:alert(1)", null, 42]) {
      record(bad, [...scripts, bad]);
      expect(viewerAssets(), String(bad)).toEqual({ frameFetcher: null, viewerScripts: [] });
    }
    writeFileSync(file, "not json");
    utimesSync(file, tick + 10, tick + 10);
    expect(viewerAssets()).toEqual({ frameFetcher: null, viewerScripts: [] });
  });
});
