import { writeFileSync } from "node:fs";
import path from "node:path";
import type { NextConfig } from "next";
import { FRAME_FETCHER_NAME, VIEWER_ASSETS_FILE } from "./components/viewer/names";

/**
 * Writes where the build put the viewer's frame fetcher worker (its chunk's name carries a content
 * hash): the viewer page's HTML starts that worker before the page's code has loaded
 * (server/viewer/assets.ts reads the file).
 */
class ViewerAssetsPlugin {
  apply(compiler: { options: { output: { path?: string; publicPath?: unknown } }; hooks: { afterEmit: { tap: (name: string, fn: (c: { chunks: Iterable<{ name?: string | null; files: Iterable<string> }> }) => void) => void } } }) {
    compiler.hooks.afterEmit.tap("AtriumViewerAssets", (compilation) => {
      const publicPath = typeof compiler.options.output.publicPath === "string" ? compiler.options.output.publicPath : "/_next/";
      let frameFetcher: string | null = null;
      for (const chunk of compilation.chunks) {
        if (chunk.name !== FRAME_FETCHER_NAME) continue;
        const file = [...chunk.files].find((f) => f.endsWith(".js"));
        if (file) frameFetcher = `${publicPath.replace(/\/?$/, "/")}${file}`;
      }
      if (compiler.options.output.path) writeFileSync(path.join(compiler.options.output.path, VIEWER_ASSETS_FILE), JSON.stringify({ frameFetcher }));
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
  webpack: (config: { resolve: { fallback?: Record<string, unknown> }; plugins: unknown[] }, { isServer }: { isServer: boolean }) => {
    if (!isServer) {
      config.resolve.fallback = { ...config.resolve.fallback, fs: false, path: false };
      config.plugins.push(new ViewerAssetsPlugin());
    }
    return config;
  },
};

export default nextConfig;
