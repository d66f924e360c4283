// Pixel rules (lib/dicom/pixel-rules) and the engine's hold flags: signatures built from header
// conditions, the CTP script they form, blanking a de-identified file at release, and which images
// the engine flags for a pixel review.
import { describe, expect, it } from "vitest";
import {
  blankReviewedFile,
  checkSignature,
  formatPixelScript,
  imageFacts,
  matchingRule,
  pixelScriptOf,
  regionsSchema,
  signatureFromConditions,
  SignatureError,
  type StoredRule,
} from "@/lib/dicom/pixel-rules";
import { evalFilter, parsePixelScript } from "@/lib/dicom/pixel";
import { deidentify } from "@/lib/dicom/deid";
import { compileProfile, parseProfileSpec } from "@/lib/dicom/profile";
import { MemoryPseudonymStore } from "@/lib/dicom/pseudonyms";
import { findElement, numberValue, parseDicom, stringValue } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { encodedToBuffer } from "@/lib/dicom/write";
import { readSample } from "../dicom/helpers";

const store = new MemoryPseudonymStore();
const parse = (b: Buffer) => parseDicom(new BufferSource(b));
function pixels(buf: Buffer) {
  const f = parse(buf);
  const el = findElement(f.dataset, 0x7fe00010)!;
  const le = f.syntax.littleEndian;
  return { data: Buffer.from(f.pixelSource.readAt(el.valueOffset, el.length)), rows: numberValue(f.dataset, 0x00280010, le)!, cols: numberValue(f.dataset, 0x00280011, le)! };
}

describe("signatures", () => {
  it("builds an expression from conditions that matches the image it was built from, and not another", () => {
    const us = parse(readSample("pydicom-data__US1_UNCR.dcm"));
    const f = imageFacts(us);
    const sig = signatureFromConditions([
      { keyword: "Manufacturer", value: f.manufacturer },
      { keyword: "Rows", value: String(f.rows) },
      { keyword: "Columns", value: String(f.columns) },
    ]);
    expect(sig).toBe(`Manufacturer.equals("${f.manufacturer}") * Rows.equals("${f.rows}") * Columns.equals("${f.columns}")`);
    expect(evalFilter(sig, us.dataset)).toBe(true);
    expect(evalFilter(sig, parse(readSample("pydicom__CT_small.dcm")).dataset)).toBe(false);
    expect(signatureFromConditions([])).toBe("true.");
  });

  it("escapes quotes and backslashes in values, and the filter reads them back", () => {
    const sig = signatureFromConditions([{ keyword: "Manufacturer", value: 'A "B" \\C' }]);
    expect(sig).toBe('Manufacturer.equals("A \\"B\\" \\\\C")');
    checkSignature(sig);
  });

  it("refuses what does not parse, with the reason", () => {
    expect(() => checkSignature("")).toThrow(SignatureError);
    expect(() => checkSignature('Modality.equals("US") and more')).toThrow(/does not parse.*unexpected "and more"/);
    expect(() => checkSignature("{ true. }")).toThrow(/\{ or \}/);
    expect(() => checkSignature('Modality.sounds("US")')).not.toThrow(); // unknown methods are false, as in CTP
    expect(() => checkSignature("Modality.equals(US)")).toThrow(/does not parse/);
  });

  it("regions: whole pixels, positive size, at most 64", () => {
    expect(regionsSchema.safeParse([{ x: -20, y: 0, w: 20, h: 5 }]).success).toBe(true);
    expect(regionsSchema.safeParse([{ x: 0, y: 0, w: 0, h: 5 }]).success).toBe(false);
    expect(regionsSchema.safeParse([{ x: 0.5, y: 0, w: 1, h: 5 }]).success).toBe(false);
    expect(regionsSchema.safeParse(Array.from({ length: 65 }, () => ({ x: 0, y: 0, w: 1, h: 1 }))).success).toBe(false);
  });
});

describe("rules as a CTP DicomPixelAnonymizer script", () => {
  const rules: StoredRule[] = [
    { id: "a", signature: 'Manufacturer.equals("ACME") * Rows.equals("480")', regions: [{ x: 0, y: 0, w: 640, h: 40 }, { x: -100, y: 0, w: 100, h: 20 }], description: "top band", enabled: true },
    { id: "b", signature: 'Modality.equals("CT")', regions: [], description: "CT: nothing burned in", enabled: true },
    { id: "c", signature: "true.", regions: [{ x: 0, y: 0, w: 1, h: 1 }], description: "off", enabled: false },
  ];
  it("formats enabled rules in order, and CTP's parser reads back the same signatures and regions", () => {
    const text = formatPixelScript(rules);
    const back = parsePixelScript(text);
    expect(back.signatures).toEqual([
      { expr: rules[0]!.signature, regions: rules[0]!.regions },
      { expr: rules[1]!.signature, regions: [] },
    ]);
    expect(pixelScriptOf(rules)?.signatures).toEqual(back.signatures);
    expect(pixelScriptOf([rules[2]!])).toBeUndefined();
  });
  it("the first enabled matching rule wins", () => {
    const ct = parse(readSample("pydicom__CT_small.dcm")).dataset;
    expect(matchingRule(rules, ct)).toBe(1);
    expect(matchingRule([rules[2]!, rules[1]!], ct)).toBe(1);
  });
});

describe("blanking at release", () => {
  it("fills the regions in every frame with 0, changes nothing else, and marks the file reviewed", () => {
    const input = readSample("pydicom-data__OBXXXX1A_expb_2frame.dcm"); // big endian, 2 frames
    const before = pixels(input);
    const r = blankReviewedFile(input, [{ x: 10, y: 5, w: 30, h: 7 }]);
    expect(r.kind).toBe("ok");
    if (r.kind !== "ok") return;
    const after = pixels(r.file);
    expect(after.data.length).toBe(before.data.length);
    const frameBytes = before.data.length / 2;
    const bpp = frameBytes / (before.rows * before.cols);
    let diffOutside = 0;
    let nonZeroInside = 0;
    for (let i = 0; i < after.data.length; i++) {
      const p = Math.floor((i % frameBytes) / bpp);
      const x = p % before.cols;
      const y = Math.floor(p / before.cols);
      const inside = x >= 10 && x < 40 && y >= 5 && y < 12;
      if (inside && after.data[i] !== 0) nonZeroInside++;
      if (!inside && after.data[i] !== before.data[i]) diffOutside++;
    }
    expect(nonZeroInside).toBe(0);
    expect(diffOutside).toBe(0);
    const ds = parse(r.file).dataset;
    expect(stringValue(ds, 0x00280301)).toBe("NO");
    const seq = findElement(ds, 0x00120064)!;
    expect(seq.items!.map((it) => stringValue(it, 0x00080100))).toContain("113101");
  });

  it("refuses compressed pixel data it cannot blank, saying why", () => {
    const r = blankReviewedFile(readSample("pydicom-data__US1_J2KR.dcm"), [{ x: 0, y: 0, w: 5, h: 5 }]);
    expect(r).toMatchObject({ kind: "refused", reason: expect.stringMatching(/compressed.*1\.2\.840\.10008\.1\.2\.4\.90/) });
    expect(imageFacts(parse(readSample("pydicom-data__US1_J2KR.dcm"))).blankable).toBe(false);
    expect(imageFacts(parse(readSample("pydicom-data__OBXXXX1A_rle_2frame.dcm"))).blankable).toBe(true);
  });
});

describe("which images the engine flags for a pixel review", () => {
  const flags = async (name: string, extra: object = {}) => {
    const o = await deidentify(readSample(name), { projectId: "flags", store, pixelBlankingUnsupported: "flag", ...extra });
    if (o.kind !== "deidentified") throw new Error(`${name}: ${o.kind}`);
    return o;
  };
  it("a matching rule with regions blanks and settles it; one without regions settles it too; no rule: flagged", async () => {
    expect((await flags("pydicom-data__US1_UNCR.dcm")).flags.some((f) => f.startsWith("burned_in_annotation:"))).toBe(true);
    const blanked = await flags("pydicom-data__US1_UNCR.dcm", { pixelScript: parsePixelScript('{ Modality.equals("US") } (0,0,10,10)') });
    expect(blanked.flags).toEqual([]);
    expect(blanked.blankedRegions).toBe(1);
    expect(pixels(encodedToBuffer(blanked.encoded)).data.subarray(0, 30).every((v) => v === 0)).toBe(true);
    expect((await flags("pydicom-data__US1_UNCR.dcm", { pixelScript: parsePixelScript('{ Modality.equals("US") }') })).flags).toEqual([]);
  });
  it("signatures are matched on the input header (CTP order), so a value the profile removes can still select a rule", async () => {
    const ds = parse(readSample("pydicom-data__gdcm-US-ALOKA-16.dcm")).dataset;
    const inst = stringValue(ds, 0x00080080);
    expect(inst, "the sample names an institution").toBeTruthy();
    const o = await flags("pydicom-data__gdcm-US-ALOKA-16.dcm", { pixelScript: { signatures: [{ expr: `InstitutionName.equals("${inst}")`, regions: [{ x: 0, y: 0, w: 4, h: 4 }] }] } });
    expect(o.blankedRegions).toBe(1);
    expect(o.flags).toEqual([]);
  });
  it("a rule that needs blanking on compressed data flags it (held) instead of quarantining, when asked", async () => {
    const o = await flags("pydicom-data__US1_J2KR.dcm", { pixelScript: parsePixelScript('{ Modality.equals("US") } (0,0,10,10)') });
    expect(o.flags.some((f) => f.startsWith("pixel_blanking_unsupported:"))).toBe(true);
    const q = await deidentify(readSample("pydicom-data__US1_J2KR.dcm"), { projectId: "flags", store, pixelScript: parsePixelScript('{ Modality.equals("US") } (0,0,10,10)') });
    expect(q).toMatchObject({ kind: "quarantined", code: "pixel_blanking_unsupported" });
  });
  it("Clean Pixel Data option: every image no rule covers is flagged, the option is recorded (113101)", async () => {
    const profile = compileProfile(parseProfileSpec("basic+clean-pixel-data"));
    expect(profile.options).toEqual(["cleanPixelData"]);
    const ct = await flags("pydicom__CT_small.dcm", { profile });
    expect(ct.flags.some((f) => f.startsWith("clean_pixel_data:"))).toBe(true);
    expect(encodedToBuffer(ct.encoded).includes(Buffer.from("113101"))).toBe(true);
    expect((await flags("pydicom__CT_small.dcm", { profile, pixelScript: parsePixelScript('{ Modality.equals("CT") }') })).flags).toEqual([]);
    expect((await flags("pydicom__CT_small.dcm")).flags).toEqual([]);
  });
});
