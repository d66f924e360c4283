import { writeFileSync } from "node:fs";
import path from "node:path";
import type { NextConfig } from "next";
import { FRAME_FETCHER_NAME, VIEWER_ASSETS_FILE, VIEWER_CHUNK_NAME } from "./components/viewer/names";

type Chunk = { name?: string | null; files: Iterable<string> };

/**
 * Writes where the build put the viewer's frame fetcher worker and the viewer's own code (their
 * chunks' names carry content hashes): the viewer page's HTML starts that worker and loads that code
 * before the page's own code has run (server/viewer/assets.ts reads the file).
 */
class ViewerAssetsPlugin {
  apply(compiler: {
    options: { output: { path?: string; publicPath?: unknown } };
    hooks: { afterEmit: { tap: (name: string, fn: (c: { chunks: Iterable<Chunk>; namedChunkGroups: Map<string, { chunks: Chunk[] }> }) => void) => void } };
  }) {
    compiler.hooks.afterEmit.tap("AtriumViewerAssets", (compilation) => {
      const publicPath = (typeof compiler.options.output.publicPath === "string" ? compiler.options.output.publicPath : "/_next/").replace(/\/?$/, "/");
      const scriptOf = (chunk: Chunk) => [...chunk.files].filter((f) => f.endsWith(".js")).map((f) => `${publicPath}${f}`);
      const frameFetcher = [...compilation.chunks].filter((c) => c.name === FRAME_FETCHER_NAME).flatMap(scriptOf)[0] ?? null;
      const viewerScripts = (compilation.namedChunkGroups.get(VIEWER_CHUNK_NAME)?.chunks ?? []).flatMap(scriptOf);
      if (compiler.options.output.path) writeFileSync(path.join(compiler.options.output.path, VIEWER_ASSETS_FILE), JSON.stringify({ frameFetcher, viewerScripts }));
    });
  }
}

const nextConfig: NextConfig = {
  // Server-only packages loaded from node_modules at run time instead of being bundled.
  serverExternalPackages: [
    "@electric-sql/pglite",
    "pglite-prisma-adapter",
    "@prisma/adapter-pg",
    "@prisma/client",
    "pg",
    "pino",
    "bullmq",
    "ioredis",
    "prom-client",
    "dcmjs",
    "dcmjs-dimse",
    "undici",
    // Wasm/JS image decoders the server uses for previews (lib/dicom/codecs), loaded with createRequire.
    "@cornerstonejs/codec-libjpeg-turbo-8bit",
    "@cornerstonejs/codec-charls",
    "@cornerstonejs/codec-openjpeg",
    "@cornerstonejs/codec-openjph",
    "@cornerstonejs/jpeg-lossless-decoder-js",
  ],
  poweredByHeader: false,
  // fastr's PIM reporter POSTs to /pim/api/runs/ (with the slash); Next's default 308 to the
  // slash-less path would make it re-send the whole registration, or give up.
  skipTrailingSlashRedirect: true,
  // `npm test` type-checks the whole repository (tsc --noEmit) first; the build need not repeat it.
  typescript: { ignoreBuildErrors: true },
  // cornerstone3D's codecs (dicom-image-loader) mention Node's fs/path in code paths the browser
  // never takes; the client bundle leaves them out (reference/dependencies.md §6). The viewer is
  // only reachable through next/dynamic(ssr:false) from viewer pages, so its chunks load there only.
  webpack: (config: { resolve: { fallback?: Record<string, unknown> }; plugins: unknown[]; optimization?: { splitChunks?: false | { chunks?: unknown } } }, { isServer }: { isServer: boolean }) => {
    if (!isServer) {
      config.resolve.fallback = { ...config.resolve.fallback, fs: false, path: false };
      config.plugins.push(new ViewerAssetsPlugin());
      // The frame fetcher worker is one file: split into chunks, it would fetch each of them one
      // after another (importScripts) before it could start, behind the page's own requests.
      const split = config.optimization?.splitChunks;
      if (split && typeof split.chunks === "function") {
        const splits = split.chunks as (chunk: Chunk) => boolean;
        split.chunks = (chunk: Chunk) => chunk.name !== FRAME_FETCHER_NAME && splits(chunk);
      }
    }
    return config;
  },
};

export default nextConfig;
