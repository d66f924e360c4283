// server/viewer/assets: the frame fetcher worker's URL as the build recorded it (next.config.ts),
// put into the viewer page's HTML only when it is a path of the build's own static files.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { frameFetcherWorkerUrl } from "@/server/viewer/assets";
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
function record(frameFetcher: unknown) {
  writeFileSync(file, JSON.stringify({ frameFetcher }));
  tick += 10; // a new build: a new modification time
  utimesSync(file, tick, tick);
}

describe("frameFetcherWorkerUrl", () => {
  it("reads the build's record, and refuses what is not one of its static scripts", () => {
    process.env.ATRIUM_PORTAL_DIR = dir;
    expect(frameFetcherWorkerUrl()).toBeNull(); // no build recorded it
    mkdirSync(path.dirname(file), { recursive: true });
    record("/_next/static/chunks/atrium-frame-fetcher.0123abcd.js");
    expect(frameFetcherWorkerUrl()).toBe("/_next/static/chunks/atrium-frame-fetcher.0123abcd.js");
    for (const bad of ["https://elsewhere.example/w.js", "/_next/static/../../x.js", "/_next/static/w.js\"", "javascript:alert(1)", null, 42]) {
      record(bad);
      expect(frameFetcherWorkerUrl(), String(bad)).toBeNull();
    }
    writeFileSync(file, "not json");
    utimesSync(file, tick + 10, tick + 10);
    expect(frameFetcherWorkerUrl()).toBeNull();
  });
});
