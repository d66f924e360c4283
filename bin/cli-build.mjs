// The `atrium` command compiled ahead of time. The TypeScript sources of the command line, the
// server code it runs and the workers (cli/, lib/, server/, workers/) are bundled with esbuild into
// ES modules under .build/cli/<stamp>/ — at `npm install` (postinstall) or, when the sources
// changed since, at the next start — so that a start costs no TypeScript compilation (~2.5 s with
// tsx). Packages stay in node_modules; `@/…` resolves through tsconfig.json. Each module keeps the
// location of its source: import.meta.url/dirname/filename are replaced by the source file's, so
// files read next to the sources (migrations, the PS3.15 table, the Prisma engine) are found as in
// development. The compiled code knows its own folder as __ATRIUM_COMPILED_DIR__ (the
// de-identification threads load their compiled entry from it).
//
// Plain JavaScript on purpose: it runs before anything can compile TypeScript.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const BUILD_DIR = path.join(ROOT, ".build", "cli");
const SOURCE_DIRS = ["cli", "lib", "server", "workers"];
const SOURCE_FILES = ["package.json", "package-lock.json", "tsconfig.json", "bin/cli-build.mjs"];
/** Entry points: name of the output module → source. */
const ENTRIES = { main: "cli/main.ts", "deid-thread": "workers/deid-thread.ts" };

function walk(dir, acc) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "node_modules") walk(p, acc);
    } else {
      const st = statSync(p);
      acc.count++;
      acc.size += st.size;
      if (st.mtimeMs > acc.newest) acc.newest = st.mtimeMs;
    }
  }
}

/**
 * A short fingerprint of the sources: newest modification time, number and total size of the
 * files (a deleted or replaced file changes it too), the checkout's location and Node's major
 * version. A few milliseconds for the ~200 source files.
 */
export function sourceStamp(root = ROOT) {
  const acc = { newest: 0, count: 0, size: 0 };
  for (const d of SOURCE_DIRS) walk(path.join(root, d), acc);
  for (const f of SOURCE_FILES) {
    try {
      const st = statSync(path.join(root, f));
      acc.count++;
      acc.size += st.size;
      if (st.mtimeMs > acc.newest) acc.newest = st.mtimeMs;
    } catch {
      // optional
    }
  }
  const major = process.versions.node.split(".")[0];
  return createHash("sha256").update(`${root}\0${acc.newest}\0${acc.count}\0${acc.size}\0${major}`).digest("hex").slice(0, 16);
}

/** The folder of the current compiled CLI, or null when there is none for these sources. */
export function currentBuild(root = ROOT) {
  const dir = path.join(root, ".build", "cli", sourceStamp(root));
  return existsSync(path.join(dir, "main.mjs")) ? dir : null;
}

function importMetaPlugin(root) {
  const rootFs = root + path.sep;
  return {
    name: "atrium-source-locations",
    setup(build) {
      build.onLoad({ filter: /\.(ts|mts|mjs|js)$/ }, (args) => {
        if (!args.path.startsWith(rootFs) || args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
        const text = readFileSync(args.path, "utf8");
        const url = pathToFileURL(args.path).href;
        // Not inside a string literal ("import.meta.url" as text stays as it is).
        const contents = text
          .replace(/(?<!["'`])\bimport\.meta\.url\b/g, JSON.stringify(url))
          .replace(/(?<!["'`])\bimport\.meta\.dirname\b/g, JSON.stringify(path.dirname(args.path)))
          .replace(/(?<!["'`])\bimport\.meta\.filename\b/g, JSON.stringify(args.path));
        return { contents, loader: /\.m?ts$/.test(args.path) ? "ts" : "js", resolveDir: path.dirname(args.path) };
      });
    },
  };
}

/**
 * Compiles the CLI and the worker entries for the current sources; returns the folder. Concurrent
 * builds (several processes starting at once) each write a private folder and rename it into
 * place; the first one wins and the others use it.
 */
export async function buildCli(root = ROOT) {
  const stamp = sourceStamp(root);
  const base = path.join(root, ".build", "cli");
  const dir = path.join(base, stamp);
  if (existsSync(path.join(dir, "main.mjs"))) return dir;
  const { build } = await import("esbuild");
  mkdirSync(base, { recursive: true });
  const tmp = path.join(base, `.tmp-${stamp}-${process.pid}-${Date.now()}`);
  try {
    await build({
      absWorkingDir: root,
      entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([k, v]) => [k, path.join(root, v)])),
      outdir: tmp,
      outExtension: { ".js": ".mjs" },
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      target: "node20",
      packages: "external",
      tsconfig: path.join(root, "tsconfig.json"),
      define: { __ATRIUM_COMPILED_DIR__: JSON.stringify(dir) },
      logLevel: "silent",
      legalComments: "none",
      plugins: [importMetaPlugin(root)],
    });
    writeFileSync(path.join(tmp, "stamp.json"), JSON.stringify({ stamp, builtAt: new Date().toISOString(), node: process.version }) + "\n");
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another process finished the same build first: use its copy.
      if (!existsSync(path.join(dir, "main.mjs"))) throw e;
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  // Earlier builds: a process started from one (a running `atrium start`) still loads chunks and
  // its de-identification thread entry from it, lazily. Keep the two latest and any built in the
  // last day; remove older ones, and abandoned temporary folders.
  const day = 24 * 3600_000;
  const others = readdirSync(base)
    .filter((d) => d !== stamp)
    .map((d) => {
      try {
        return { d, mtime: statSync(path.join(base, d)).mtimeMs };
      } catch {
        return null;
      }
    })
    .filter(Boolean)
    .sort((a, b) => b.mtime - a.mtime);
  others.forEach(({ d, mtime }, i) => {
    const old = Date.now() - mtime;
    if (d.startsWith(".tmp-") ? old > 10 * 60_000 : i >= 2 && old > day) {
      try {
        rmSync(path.join(base, d), { recursive: true, force: true });
      } catch {
        // in use or gone
      }
    }
  });
  return dir;
}

// `node bin/cli-build.mjs` (postinstall): compile now, and say where.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const t0 = performance.now();
    const dir = await buildCli();
    console.log(`atrium: compiled the command line into ${path.relative(process.cwd(), dir) || "."} (${Math.round(performance.now() - t0)} ms)`);
  } catch (e) {
    // Not fatal: `atrium` then compiles at its first start, or runs the sources through tsx.
    console.warn(`atrium: could not compile the command line now (${e.message}); it will run from the TypeScript sources.`);
  }
}
