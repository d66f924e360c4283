// The portal's static assets (.next/static: JavaScript, CSS, wasm codecs), compressed once when the
// portal is built, and served from those files by `atrium start`. Next.js itself gzips every such
// response as it sends it: for the viewer's 2.4 MB cornerstone3D chunk that is ~90 ms of the server's
// CPU per browser that loads it cold, and brotli at build time makes it a fifth smaller as well.
// The files' names carry their content hash, so they are cached by browsers for good.
import { createReadStream, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { parseAccept } from "@/lib/dicomweb/accept";

const PREFIX = "/_next/static/";
const COMPRESSIBLE = new Set([".js", ".css", ".wasm", ".json", ".svg", ".txt", ".map"]);
const TYPES: Record<string, string> = {
  ".js": "application/javascript; charset=UTF-8",
  ".css": "text/css; charset=UTF-8",
  ".wasm": "application/wasm",
  ".json": "application/json; charset=UTF-8",
  ".svg": "image/svg+xml",
  ".txt": "text/plain; charset=UTF-8",
  ".map": "application/json; charset=UTF-8",
};
/** Smaller files are left to Next.js: compressing them saves too little to matter. */
const MIN_BYTES = 1024;

function* files(dir: string): Generator<string> {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(p);
    else if (entry.isFile()) yield p;
  }
}

/** Writes NAME.br and NAME.gz next to each compressible static asset of the build in `root`; returns how many. */
export function precompressStaticAssets(root: string): { files: number; bytes: number; brotliBytes: number } {
  let count = 0;
  let bytes = 0;
  let brotliBytes = 0;
  for (const f of files(path.join(root, ".next", "static"))) {
    if (!COMPRESSIBLE.has(path.extname(f))) continue;
    const raw = readFileSync(f);
    if (raw.length < MIN_BYTES) continue;
    const br = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
    const gz = gzipSync(raw, { level: 9 });
    if (br.length < raw.length) writeFileSync(`${f}.br`, br);
    if (gz.length < raw.length) writeFileSync(`${f}.gz`, gz);
    count++;
    bytes += raw.length;
    brotliBytes += Math.min(br.length, raw.length);
  }
  return { files: count, bytes, brotliBytes };
}

interface Asset {
  type: string;
  br: { path: string; size: number } | null;
  gz: { path: string; size: number } | null;
}

/**
 * A request handler for the precompressed assets of the build in `root` (indexed now: call it once
 * the build exists). It answers GET and HEAD of an asset that has a compressed copy the client
 * accepts, and returns false for anything else (Next.js serves it as before).
 */
export function precompressedStaticHandler(root: string): (req: IncomingMessage, res: ServerResponse) => boolean {
  const dir = path.join(root, ".next", "static");
  const index = new Map<string, Asset>();
  for (const f of files(dir)) {
    const ext = path.extname(f);
    if (ext !== ".br" && ext !== ".gz") continue;
    const original = f.slice(0, -ext.length);
    if (!existsSync(original)) continue;
    const url = PREFIX + path.relative(dir, original).split(path.sep).map(encodeURIComponent).join("/");
    const a = index.get(url) ?? { type: TYPES[path.extname(original)] ?? "application/octet-stream", br: null, gz: null };
    a[ext === ".br" ? "br" : "gz"] = { path: f, size: statSync(f).size };
    index.set(url, a);
  }
  return (req, res) => {
    if ((req.method !== "GET" && req.method !== "HEAD") || !req.url?.startsWith(PREFIX)) return false;
    const asset = index.get(req.url.split("?")[0]!);
    if (!asset) return false;
    // Accept-Encoding is a q-value list like Accept: the encodings it allows (q=0 refuses one).
    const enc = new Set(parseAccept(String(req.headers["accept-encoding"] ?? "")).map((e) => e.type));
    const chosen = asset.br && enc.has("br") ? { name: "br", ...asset.br } : asset.gz && (enc.has("gzip") || enc.has("*")) ? { name: "gzip", ...asset.gz } : null;
    if (!chosen) return false;
    res.writeHead(200, {
      "content-type": asset.type,
      "content-encoding": chosen.name,
      "content-length": String(chosen.size),
      "cache-control": "public, max-age=31536000, immutable",
      vary: "Accept-Encoding",
    });
    if (req.method === "HEAD") {
      res.end();
      return true;
    }
    const stream = createReadStream(chosen.path);
    stream.on("error", () => res.destroy());
    stream.pipe(res);
    return true;
  };
}
