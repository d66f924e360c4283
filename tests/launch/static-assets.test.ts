// The portal's static assets compressed at build time and served from those files by `atrium start`
// (server/launch/static-assets.ts): the encoding the browser accepts, the bytes unchanged once
// decoded, and anything else left to Next.js.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { precompressStaticAssets, precompressedStaticHandler } from "@/server/launch/static-assets";

let root: string;
let server: http.Server;
let base: string;
const big = Buffer.from(Array.from({ length: 4000 }, (_, i) => `export const value${i} = ${i % 7};\n`).join(""));
const small = Buffer.from("export const x = 1;\n");

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), "atrium-static-"));
  mkdirSync(path.join(root, ".next", "static", "chunks", "app"), { recursive: true });
  writeFileSync(path.join(root, ".next", "static", "chunks", "big-abc123.js"), big);
  writeFileSync(path.join(root, ".next", "static", "chunks", "app", "page [x].css"), big);
  writeFileSync(path.join(root, ".next", "static", "chunks", "small-def456.js"), small);
  writeFileSync(path.join(root, ".next", "static", "chunks", "image.png"), big);
  const made = precompressStaticAssets(root);
  expect(made.files).toBe(2);
  expect(made.brotliBytes).toBeLessThan(made.bytes / 5);
  const handle = precompressedStaticHandler(root);
  server = http.createServer((req, res) => {
    if (handle(req, res)) return;
    res.writeHead(404, { "x-served-by": "next" }).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

function get(url: string, headers: Record<string, string>, method = "GET"): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("precompressed static assets", () => {
  it("writes .br and .gz next to compressible assets of 1 KiB or more, not next to others", () => {
    const chunks = path.join(root, ".next", "static", "chunks");
    expect(existsSync(path.join(chunks, "big-abc123.js.br"))).toBe(true);
    expect(existsSync(path.join(chunks, "big-abc123.js.gz"))).toBe(true);
    expect(existsSync(path.join(chunks, "small-def456.js.br"))).toBe(false);
    expect(existsSync(path.join(chunks, "image.png.br"))).toBe(false);
  });

  it("serves brotli to a browser that accepts it, with the asset's type and a cache for good", async () => {
    const r = await get("/_next/static/chunks/big-abc123.js", { "accept-encoding": "gzip, deflate, br, zstd" });
    expect(r.status).toBe(200);
    expect(r.headers["content-encoding"]).toBe("br");
    expect(r.headers["content-type"]).toBe("application/javascript; charset=UTF-8");
    expect(r.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(r.headers.vary).toBe("Accept-Encoding");
    expect(Number(r.headers["content-length"])).toBe(r.body.length);
    expect(brotliDecompressSync(r.body).equals(big)).toBe(true);
  });

  it("serves gzip when brotli is not accepted (or refused with q=0), and a name that needs escaping", async () => {
    const r = await get("/_next/static/chunks/big-abc123.js?dpl=1", { "accept-encoding": "gzip, br;q=0" });
    expect(r.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(r.body).equals(big)).toBe(true);
    const css = await get("/_next/static/chunks/app/page%20%5Bx%5D.css", { "accept-encoding": "gzip" });
    expect(css.headers["content-type"]).toBe("text/css; charset=UTF-8");
    expect(gunzipSync(css.body).equals(big)).toBe(true);
  });

  it("answers HEAD without a body", async () => {
    const r = await get("/_next/static/chunks/big-abc123.js", { "accept-encoding": "br" }, "HEAD");
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(0);
    expect(Number(r.headers["content-length"])).toBeGreaterThan(0);
  });

  it("leaves to Next.js: no accepted encoding, small or unknown assets, other paths and methods, paths that leave the folder", async () => {
    for (const [url, enc, method] of [
      ["/_next/static/chunks/big-abc123.js", "identity", "GET"],
      ["/_next/static/chunks/big-abc123.js", "", "GET"],
      ["/_next/static/chunks/small-def456.js", "br", "GET"],
      ["/_next/static/chunks/image.png", "br", "GET"],
      ["/_next/static/chunks/missing.js", "br", "GET"],
      ["/_next/static/../../package.json", "br", "GET"],
      ["/_next/static/chunks/big-abc123.js", "br", "POST"],
      ["/projects", "br", "GET"],
    ] as const) {
      const r = await get(url, enc ? { "accept-encoding": enc } : {}, method);
      expect(r.headers["x-served-by"], `${method} ${url} (${enc})`).toBe("next");
    }
  });
});
