#!/usr/bin/env node
// The `atrium` command. Runs the TypeScript sources directly through tsx.
import { register } from "tsx/esm/api";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

register();
const here = path.dirname(fileURLToPath(import.meta.url));
const { main } = await import(pathToFileURL(path.join(here, "..", "cli", "main.ts")).href);
await main(process.argv.slice(2));
