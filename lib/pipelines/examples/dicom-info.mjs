#!/usr/bin/env node
// What a DICOM series holds, no dependencies: how many instances (files with the DICM marker) and
// how many megabytes. Prints one JSON object on stdout (the pipeline finds its outputs there).
// Usage: node dicom-info.mjs SERIES_DIR_OR_FILE...
import { openSync, readSync, closeSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const files = [];
const walk = (p) => {
  const st = statSync(p);
  if (st.isDirectory()) for (const e of readdirSync(p)) walk(path.join(p, e));
  else files.push({ p, size: st.size });
};
const args = process.argv.slice(2);
if (!args.length) {
  console.error("usage: dicom-info.mjs SERIES_DIR_OR_FILE...");
  process.exit(2);
}
for (const a of args) walk(a);
let instances = 0;
let bytes = 0;
const marker = Buffer.alloc(4);
for (const f of files) {
  const fd = openSync(f.p, "r");
  try {
    if (readSync(fd, marker, 0, 4, 128) === 4 && marker.toString("latin1") === "DICM") {
      instances++;
      bytes += f.size;
    }
  } finally {
    closeSync(fd);
  }
}
if (!instances) {
  console.error(`No DICOM file among ${files.length} file(s).`);
  process.exit(3);
}
console.log(JSON.stringify({ instances, megabytes: Math.round((bytes / 1048576) * 1000) / 1000 }));
