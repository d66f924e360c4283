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

// ---- planting synthetic identifiers -------------------------------------------------------

import { parseDicom, type Dataset, type Element } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { encodeFile, encodedToBuffer } from "@/lib/dicom/write";

/** A leaf to plant: tag, VR as written (UN for an opaque value), text value. */
export interface Plant {
  /** Sequence path to the dataset, e.g. [[0x00400260, 0], [0x00400440, 0]] (items are created). */
  under?: [number, number][];
  tag: number;
  vr: string;
  value: string;
}

function leaf(tag: number, vr: string, value: string): Element {
  let v = Buffer.from(value, "latin1");
  if (v.length % 2) v = Buffer.concat([v, Buffer.from(vr === "UI" || vr === "UN" || vr === "OB" ? [0] : [0x20])]);
  return { tag, vr, fileVr: vr, buf: Buffer.alloc(0), valueOffset: 0, length: 0, undefinedLength: false, newValue: v };
}

function put(ds: Dataset, el: Element): Element {
  const i = ds.elements.findIndex((e) => e.tag >= el.tag);
  if (i >= 0 && ds.elements[i].tag === el.tag) {
    if (el.items && ds.elements[i].items) return ds.elements[i]; // an existing sequence: plant into it
    ds.elements[i] = el; // replaces an existing value (or a non-sequence)
    return el;
  }
  if (i < 0) ds.elements.push(el);
  else ds.elements.splice(i, 0, el);
  return el;
}

/** The file with the given leaves added (sequences and items created as needed). */
export function plant(input: Buffer, plants: Plant[]): Buffer {
  const file = parseDicom(new BufferSource(input));
  for (const p of plants) {
    let ds = file.dataset;
    for (const [tag, index] of p.under ?? []) {
      const sq = put(ds, { tag, vr: "SQ", fileVr: "SQ", buf: Buffer.alloc(0), valueOffset: 0, length: 0, undefinedLength: true, items: [] });
      sq.items ??= [];
      while (sq.items.length <= index) sq.items.push({ elements: [], undefinedLength: true });
      ds = sq.items[index];
    }
    put(ds, leaf(p.tag, p.vr, p.value));
  }
  const sop = file.dataset.elements.find((e) => e.tag === 0x00080018)!;
  const cls = file.dataset.elements.find((e) => e.tag === 0x00080016)!;
  const str = (e: Element) => e.buf.toString("latin1", e.valueOffset, e.valueOffset + e.length).replace(/[\0 ]+$/, "");
  return encodedToBuffer(encodeFile(file.dataset, file.syntax, { sopClassUID: str(cls), sopInstanceUID: str(sop) }, file.pixelSource));
}
