// Pixel blanking by CTP-style rules, and burned-in annotation flags.
import { describe, expect, it } from "vitest";
import { deidentify } from "@/lib/dicom/deid";
import { MemoryPseudonymStore } from "@/lib/dicom/pseudonyms";
import { parsePixelScript, evalFilter } from "@/lib/dicom/pixel";
import { encodedToBuffer } from "@/lib/dicom/write";
import { parseDicom, findElement } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { readSample } from "./helpers";

const store = new MemoryPseudonymStore();
function pixels(buf: Buffer): Buffer {
  const p = parseDicom(new BufferSource(buf));
  const el = findElement(p.dataset, 0x7fe00010)!;
  return Buffer.from(p.pixelSource.readAt(el.valueOffset, el.length));
}

describe("pixel blanking", () => {
  it("evaluates DicomFilter signatures", () => {
    const ds = parseDicom(new BufferSource(readSample("pydicom-data__US1_UNCR.dcm"))).dataset;
    expect(evalFilter('Modality.equals("US")', ds)).toBe(true);
    expect(evalFilter('Modality.equals("CT") + [0008,0060].startsWith("U")', ds)).toBe(true);
    expect(evalFilter('!Modality.equals("US") * true.', ds)).toBe(false);
    expect(evalFilter('Rows.isGreaterThan("100")', ds)).toBe(true);
  });

  it("blanks the matching rectangle of uncompressed RGB data, and only it", async () => {
    const input = readSample("pydicom-data__US1_UNCR.dcm");
    const script = parsePixelScript('# header band\n{ Modality.equals("US") * Columns.isGreaterThan("10") }\n(200,200,40,10) (-20,0,20,5)\n{ true. } (0,0,1,1)');
    const o = await deidentify(input, { projectId: "px", store, pixelScript: script });
    expect(o.kind).toBe("deidentified");
    if (o.kind !== "deidentified") return;
    expect(o.blankedRegions).toBe(2);
    expect(o.flags.some((f) => f.startsWith("burned_in"))).toBe(false);
    const before = pixels(input);
    const after = pixels(encodedToBuffer(o.encoded));
    const ds = parseDicom(new BufferSource(input)).dataset;
    const cols = findElement(ds, 0x00280011)!.buf.readUInt16LE(findElement(ds, 0x00280011)!.valueOffset);
    const at = (b: Buffer, x: number, y: number) => b.subarray((y * cols + x) * 3, (y * cols + x) * 3 + 3);
    expect([...at(after, 205, 205)]).toEqual([0, 0, 0]);
    expect([...at(after, cols - 1, 0)]).toEqual([0, 0, 0]);
    let changedOutside = 0;
    for (let i = 0; i < before.length; i += 3) {
      const px = (i / 3) % cols;
      const py = Math.floor(i / 3 / cols);
      const inside = (px >= 200 && px < 240 && py >= 200 && py < 210) || (px >= cols - 20 && py < 5);
      if (!inside && !before.subarray(i, i + 3).equals(after.subarray(i, i + 3))) changedOutside++;
    }
    expect(changedOutside).toBe(0);
    expect(before.equals(after)).toBe(false);
  });

  it("quarantines a file needing blanking in a compressed syntax", async () => {
    const o = await deidentify(readSample("pydicom-data__US1_J2KR.dcm"), { projectId: "px", store, pixelScript: parsePixelScript('{Modality.equals("US")}(0,0,10,10)') });
    expect(o).toMatchObject({ kind: "quarantined", code: "pixel_blanking_unsupported" });
  });

  it("flags burned-in annotation candidates, or holds them back on request", async () => {
    const f = await deidentify(readSample("pydicom-data__US1_J2KR.dcm"), { projectId: "px", store });
    expect(f.kind === "deidentified" && f.flags.some((x) => x.startsWith("burned_in_annotation"))).toBe(true);
    const q = await deidentify(readSample("pydicom-data__US1_J2KR.dcm"), { projectId: "px", store, burnedIn: "quarantine" });
    expect(q).toMatchObject({ kind: "quarantined", code: "burned_in_annotation" });
    const ct = await deidentify(readSample("pydicom__CT_small.dcm"), { projectId: "px", store });
    expect(ct.kind === "deidentified" && ct.flags.length === 0).toBe(true);
  });
});
