// lib/ is framework-free domain code (ARCHITECTURE.md): it may import Node's built-ins, plain
// libraries and other lib/ modules, but never the server, the portal, the workers, Next.js,
// next-auth, React, tRPC or Prisma (database adapters belong in server/). This test reads every
// module under lib/ and fails on any such import, static or dynamic, by alias or relative path.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const LIB = path.join(ROOT, "lib");

/** Package names lib/ must not import (the name itself or any subpath). */
const FORBIDDEN_PACKAGES = ["next", "next-auth", "@next-auth", "react", "react-dom", "@prisma", "prisma", ".prisma", "@trpc", "@mantine", "@tanstack"];
/** Top-level folders of the repository lib/ must not reach into. */
const FORBIDDEN_DIRS = ["server", "app", "components", "workers", "cli"];

function modules(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) modules(p, out);
    else if (/\.(ts|tsx|mts|cts|js|mjs|cjs)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Every module specifier in a source text: import/export … from, bare import, import(), require(), import type. */
export function specifiers(source: string): string[] {
  // Comments are dropped first so that prose mentioning e.g. "next" is not an import.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)\s*\./g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]!);
  return [...new Set(out)];
}

/** Why a specifier imported from `file` breaks the boundary, or null when it is fine. */
export function violation(file: string, spec: string): string | null {
  if (spec.startsWith("node:")) return null;
  let target: string | null = null;
  if (spec.startsWith("@/")) target = path.join(ROOT, spec.slice(2));
  else if (spec.startsWith(".")) target = path.resolve(path.dirname(file), spec);
  if (target) {
    const rel = path.relative(ROOT, target).split(path.sep);
    if (rel[0] === "lib") return null;
    if (FORBIDDEN_DIRS.includes(rel[0]!)) return `reaches into ${rel[0]}/`;
    return null;
  }
  const pkg = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
  const scope = pkg.startsWith("@") ? pkg.split("/")[0]! : null;
  if (FORBIDDEN_PACKAGES.includes(pkg) || (scope && FORBIDDEN_PACKAGES.includes(scope))) return `imports the framework package ${pkg}`;
  return null;
}

describe("lib/ stays framework-free", () => {
  it("recognises the forbidden imports (the check itself)", () => {
    const file = path.join(LIB, "dicom", "x.ts");
    const src = [
      `import type { PrismaClient } from "@/server/db/generated/client";`,
      `import { z } from "zod";`,
      `const m = await import("next/server");`,
      `export { a } from "../../server/db";`,
      `import "react";`,
      `// import { x } from "next-auth"`,
      `const p = require("@prisma/client");`,
      `import { y } from "./pseudonyms";`,
    ].join("\n");
    const found = specifiers(src).map((s) => [s, violation(file, s)] as const).filter(([, v]) => v);
    expect(found.map(([s]) => s).sort()).toEqual(["../../server/db", "@/server/db/generated/client", "@prisma/client", "next/server", "react"].sort());
  });

  it("no module under lib/ imports server/, the portal, the workers, Next.js, next-auth, React, tRPC or Prisma", () => {
    const problems: string[] = [];
    for (const file of modules(LIB)) {
      for (const spec of specifiers(readFileSync(file, "utf8"))) {
        const why = violation(file, spec);
        if (why) problems.push(`${path.relative(ROOT, file)}: "${spec}" ${why}`);
      }
    }
    expect(problems, "database adapters and framework glue belong in server/; lib/ takes what it needs as parameters").toEqual([]);
  });
});
