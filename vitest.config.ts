import { defineConfig } from "vitest/config";
import path from "node:path";
import { availableParallelism } from "node:os";

// vitest 5 targets Node 22; its reporter calls Map.groupBy, which Node 20 lacks.
if (typeof (Map as unknown as { groupBy?: unknown }).groupBy !== "function") {
  Object.defineProperty(Map, "groupBy", {
    value<K, V>(items: Iterable<V>, key: (v: V, i: number) => K) {
      const out = new Map<K, V[]>();
      let i = 0;
      for (const v of items) {
        const k = key(v, i++);
        out.set(k, [...(out.get(k) ?? []), v]);
      }
      return out;
    },
  });
}

export default defineConfig({
  resolve: { alias: { "@": path.resolve(import.meta.dirname) } },
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/setup/global.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Outbound requests to owner-set URLs refuse loopback unless allow-listed (lib/outbound); the
    // suite's XNAT test double, Orthanc and fake nodes listen on this machine, so the whole run
    // (and the portals it starts, which inherit it) allows loopback. tests/*/…-ssrf tests unset it.
    env: { ATRIUM_OUTBOUND_ALLOW: "127.0.0.0/8,::1,localhost" },
    // vitest's default is one file at a time on 2 cores (cores - 1); most files wait on processes,
    // sockets and PostgreSQL rather than compute, and each has its own database, ports and data
    // directory, so two run side by side safely. VITEST_MAX_WORKERS overrides it.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // The ten slowest files are printed at the end of every run (tests/setup/slowest-files.ts).
    reporters: ["default", "./tests/setup/slowest-files.ts"],
  },
});
