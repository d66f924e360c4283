#!/usr/bin/env node
// The `atrium` command. Runs the compiled CLI (.build/cli/, see bin/cli-build.mjs), compiling it
// first when the sources changed since the last build (at install, after a pull, in development);
// only when that is impossible (no esbuild, read-only checkout) — or with ATRIUM_CLI_FROM_SOURCE=1 —
// does it run the TypeScript sources through tsx, which costs ~2.5 s per start.
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";
import { buildCli, currentBuild } from "./cli-build.mjs";

const argv = process.argv.slice(2);
let dir = null;
if (process.env.ATRIUM_CLI_FROM_SOURCE !== "1") {
  dir = currentBuild();
  if (!dir) {
    try {
      dir = await buildCli();
    } catch (e) {
      console.error(`atrium: could not compile the command line (${e.message}); running the TypeScript sources instead (slower start).`);
    }
  }
}
if (dir) {
  const { main } = await import(pathToFileURL(path.join(dir, "main.mjs")).href);
  await main(argv);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  const here = path.dirname(fileURLToPath(import.meta.url));
  const { main } = await import(pathToFileURL(path.join(here, "..", "cli", "main.ts")).href);
  await main(argv);
}
