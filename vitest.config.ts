import { defineConfig } from "vitest/config";
import path from "node:path";

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
    reporters: ["default"],
  },
});
