// A 2 GB instance is de-identified with bounded memory: the pixel data is streamed, never held.
import { afterAll, expect, it } from "vitest";
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeSync, ftruncateSync } from "node:fs";
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { parseDicom } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { SAMPLES_DIR } from "@/lib/samples";

const dir = mkdtempSync(path.join(os.tmpdir(), "atrium-large-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PIXEL_BYTES = 2 * 1024 * 1024 * 1024 - 16; // just under 2 GiB, even

it("de-identifies a 2 GB file (sparse on disk) under 300 MB peak RSS, pixel data intact in size", { timeout: 240_000 }, () => {
  // CT_small (explicit VR little endian) with its Pixel Data value grown to 2 GB.
  const src = readFileSync(path.join(SAMPLES_DIR, "pydicom__CT_small.dcm"));
  const parsed = parseDicom(new BufferSource(src));
  const pixel = parsed.dataset.elements.find((e) => e.tag === 0x7fe00010)!;
  // (7FE0,0010) OW, explicit VR little endian: tag, VR, 2 reserved bytes, then the 4-byte length.
  const at = src.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0x00, 0x00]));
  expect(at).toBeGreaterThan(0);
  expect(src.readUInt32LE(at + 8)).toBe(pixel.length);
  const header = src.subarray(0, at + 8);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(PIXEL_BYTES);
  const input = path.join(dir, "in", "large.dcm");
  execFileSync("mkdir", ["-p", path.dirname(input)]);
  const fd = openSync(input, "w");
  writeSync(fd, header);
  writeSync(fd, length);
  ftruncateSync(fd, header.length + 4 + PIXEL_BYTES);
  closeSync(fd);

  const out = path.join(dir, "out");
  const report = JSON.parse(
    execFileSync(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "large-child.ts"), input, out], { encoding: "utf8", maxBuffer: 1 << 20 })
      .trim()
      .split("\n")
      .pop()!,
  );
  expect(report.kind).toBe("deidentified");
  expect(report.maxRssMB).toBeLessThan(300);
  const written = (function find(d: string): string {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) return find(p);
      if (e.name.endsWith(".dcm")) return p;
    }
    throw new Error("no output");
  })(out);
  expect(statSync(written).size).toBeGreaterThan(PIXEL_BYTES);
});
