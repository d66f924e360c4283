// Viewer bundle figures from the production build (.next): the JavaScript each page loads up front
// (gzip), the on-demand chunks that hold cornerstone3D (loaded by the viewer only), and a check that
// no other page's entry chunks contain cornerstone. Run after `npm run build`:
//   npx tsx bench/viewer.ts
// Load times (navigation → first image / whole stack, 200-slice CT, cold and warm): bench/viewer-load.ts.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

const ROOT = path.resolve(import.meta.dirname, "..");
const NEXT = path.join(ROOT, ".next");
const MARK = "CORNERSTONE_IMAGE_RENDERED"; // an event name only cornerstone3D's core defines

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}
const gz = (file: string) => gzipSync(readFileSync(file)).length;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

const chunks = walk(path.join(NEXT, "static", "chunks")).filter((f) => f.endsWith(".js"));
const cornerstone = new Set(chunks.filter((f) => readFileSync(f, "utf8").includes(MARK)).map((f) => path.relative(NEXT, f)));
const manifests = walk(path.join(NEXT, "server", "app")).filter((f) => f.endsWith("page_client-reference-manifest.js"));
let leaks = 0;
const rows: [string, number, number][] = [];
for (const m of manifests) {
  const route = "/" + path.relative(path.join(NEXT, "server", "app"), path.dirname(m)).replaceAll(path.sep, "/");
  const text = readFileSync(m, "utf8");
  // The manifest names route chunks URL-encoded (projects/%5Bid%5D/page-….js).
  const files = [...new Set([...text.matchAll(/static\/chunks\/[^"\\]+\.js/g)].map((x) => decodeURIComponent(x[0])))];
  const total = files.reduce((a, f) => a + gz(path.join(NEXT, f)), 0);
  const csIn = files.filter((f) => cornerstone.has(f)).length;
  leaks += csIn;
  rows.push([route, total, csIn]);
}
rows.sort((a, b) => a[0].localeCompare(b[0]));
console.log("page entry JavaScript (gzip) and cornerstone chunks among its entry files:");
for (const [r, t, c] of rows) console.log(`  ${r.padEnd(60)} ${kb(t).padStart(10)}  cornerstone chunks: ${c}`);
const csBytes = [...cornerstone].reduce((a, f) => a + gz(path.join(NEXT, f)), 0);
console.log(`on-demand viewer chunks with cornerstone: ${cornerstone.size} file(s), ${kb(csBytes)} gzip (wasm codecs load separately, on first decode)`);
const view = rows.find((r) => r[0].includes("/view"));
if (view) console.log(`viewer page total (entry + viewer chunks): ${kb(view[1] + csBytes)} gzip`);
console.log(leaks === 0 ? "OK: no page's entry chunks contain cornerstone" : `LEAK: cornerstone in ${leaks} page entry chunk reference(s)`);
process.exitCode = leaks === 0 ? 0 : 1;
