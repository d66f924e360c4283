// Shared helpers for the de-identification tests (samples are read in place, never copied).
import { readdirSync, readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";

export { SAMPLES_DIR as SAMPLES } from "@/lib/samples";
import { SAMPLES_DIR as SAMPLES } from "@/lib/samples";
export function sampleFiles(): string[] {
  return readdirSync(SAMPLES)
    .filter((f) => f.endsWith(".dcm"))
    .sort();
}
export function readSample(name: string): Buffer {
  return readFileSync(path.join(SAMPLES, name));
}

const tmp = mkdtempSync(path.join(tmpdir(), "atrium-deid-test-"));
let n = 0;
/** dcmdump of a buffer (written to a temp file); throws with dcmdump's stderr on failure. */
export function dcmdump(buf: Buffer, args: string[] = []): string {
  const f = path.join(tmp, `f${process.pid}_${n++}.dcm`);
  writeFileSync(f, buf);
  return execFileSync("/usr/bin/dcmdump", ["-q", "+E", ...args, f], { encoding: "latin1", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"] });
}
export function dcmdumpFile(file: string): string {
  return execFileSync("/usr/bin/dcmdump", ["-q", "+E", file], { encoding: "latin1", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"] });
}

/** Values (at any depth) of the given tags in a dcmdump listing. */
export function dumpValues(dump: string, tags: string[]): { tag: string; value: string }[] {
  const out: { tag: string; value: string }[] = [];
  const want = new Set(tags.map((t) => t.toLowerCase()));
  for (const line of dump.split("\n")) {
    const m = /^\s*\(([0-9a-f]{4},[0-9a-f]{4})\)\s+\w\w\s+\[(.*)\]\s+#/i.exec(line);
    if (m && want.has(m[1].toLowerCase())) out.push({ tag: m[1], value: m[2] });
  }
  return out;
}

/** Tag lines present in a dump (tag → count). */
export function dumpTags(dump: string, topLevelOnly = false): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of dump.split("\n")) {
    const r = (topLevelOnly ? /^\(/ : /^\s*\(/).exec(line) && /^\s*\(([0-9a-f]{4},[0-9a-f]{4})\)/i.exec(line);
    if (r) m.set(r[1].toLowerCase(), (m.get(r[1].toLowerCase()) ?? 0) + 1);
  }
  return m;
}
