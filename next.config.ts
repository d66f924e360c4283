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
  ],
  poweredByHeader: false,
  typescript: { tsconfigPath: "tsconfig.json" },
};

export default nextConfig;
