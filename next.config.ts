import type { NextConfig } from "next";

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
  webpack: (config: { resolve: { fallback?: Record<string, unknown> } }, { isServer }: { isServer: boolean }) => {
    if (!isServer) config.resolve.fallback = { ...config.resolve.fallback, fs: false, path: false };
    return config;
  },
};

export default nextConfig;
