// The routing rules language: parsing, errors that say where and what was expected, evaluation
// over header values (missing = empty, numbers compared as numbers), and headers read from files.
import { describe, expect, it } from "vitest";
import path from "node:path";
import { readFileSync } from "node:fs";
import { checkRule, compileRule, RuleSyntaxError, type HeaderLookup } from "@/lib/intake/rules";
import { NotReadableError, readRuleHeader } from "@/lib/intake/rules/header";
import { lookupKeyword } from "@/lib/dicom/dictionary";
import { SAMPLES_DIR } from "@/lib/samples";

function header(values: Record<string, string>): HeaderLookup {
  const byTag = new Map<number, string>();
  for (const [k, v] of Object.entries(values)) byTag.set(lookupKeyword(k)!.tag, v);
  return (tag) => byTag.get(tag);
}

const mrBrain = header({ Modality: "MR", StudyDescription: "MRI BRAIN W/O", SliceThickness: "3.000000", SeriesNumber: "12", ImageType: "ORIGINAL\\PRIMARY\\AXIAL", Manufacturer: "SIEMENS" });
const ct = header({ Modality: "CT", StudyDescription: "CT ABDOMEN", SliceThickness: "0.625", SeriesNumber: "2" });

const m = (expr: string, h: HeaderLookup) => compileRule(expr).matches(h);

describe("evaluating rules", () => {
  it("compares with == and != and combines with &&, || and !", () => {
    expect(m('Modality == "MR"', mrBrain)).toBe(true);
    expect(m('Modality == "MR"', ct)).toBe(false);
    expect(m('Modality != "MR"', ct)).toBe(true);
    expect(m('Modality == "MR" && StudyDescription ~ /brain/i', mrBrain)).toBe(true);
    expect(m('Modality == "MR" && StudyDescription ~ /brain/', mrBrain)).toBe(false);
    expect(m('Modality == "MR" || Modality == "CT"', ct)).toBe(true);
    expect(m('!(Modality == "MR")', ct)).toBe(true);
    expect(m('!Modality == "MR"', mrBrain)).toBe(false);
    // && binds tighter than ||
    expect(m('Modality == "CT" || Modality == "MR" && Manufacturer == "GE"', ct)).toBe(true);
    expect(m('(Modality == "CT" || Modality == "MR") && Manufacturer == "GE"', ct)).toBe(false);
  });

  it("matches regular expressions with ~ and !~, and the text operators", () => {
    expect(m("StudyDescription !~ /abdomen/i", mrBrain)).toBe(true);
    expect(m("StudyDescription !~ /abdomen/i", ct)).toBe(false);
    expect(m('StudyDescription ~ /^MRI\\s+BRAIN/', mrBrain)).toBe(true);
    expect(m('StudyDescription ~ /[/]/', mrBrain)).toBe(true);
    expect(m('StudyDescription contains "BRAIN"', mrBrain)).toBe(true);
    expect(m('StudyDescription contains "brain"', mrBrain)).toBe(false);
    expect(m('Manufacturer startsWith "SIE"', mrBrain)).toBe(true);
    expect(m('StudyDescription endsWith "W/O"', mrBrain)).toBe(true);
    expect(m('ImageType contains "AXIAL"', mrBrain)).toBe(true);
    expect(m('ImageType == "ORIGINAL\\\\PRIMARY\\\\AXIAL"', mrBrain)).toBe(true);
  });

  it("compares numbers as numbers when both sides are numbers, otherwise as text", () => {
    expect(m("SliceThickness == 3", mrBrain)).toBe(true);
    expect(m("SliceThickness >= 1", ct)).toBe(false);
    expect(m("SliceThickness < 1", ct)).toBe(true);
    expect(m("SeriesNumber > 9", mrBrain)).toBe(true); // "12" > "9" as text would be false
    expect(m('SeriesNumber <= "12"', mrBrain)).toBe(true);
    expect(m('Modality > "CR"', mrBrain)).toBe(true);
    expect(m("Modality > 3", mrBrain)).toBe(true); // text: "MR" > "3"
    expect(m("SeriesNumber == -2", ct)).toBe(false);
  });

  it("treats a missing attribute as the empty string", () => {
    expect(m('PatientComments == ""', mrBrain)).toBe(true);
    expect(m('PatientComments != ""', mrBrain)).toBe(false);
    expect(m("PatientComments ~ /./", mrBrain)).toBe(false);
    expect(m("PatientComments !~ /./", mrBrain)).toBe(true);
    expect(m('PatientComments contains ""', mrBrain)).toBe(true);
  });

  it("names attributes by keyword (any case) or by tag, and compares two attributes", () => {
    expect(m('(0008,0060) == "MR"', mrBrain)).toBe(true);
    expect(m('[0008,0060] == "MR"', mrBrain)).toBe(true);
    expect(m('[00080060] == "MR"', mrBrain)).toBe(true);
    expect(m('modality == "MR"', mrBrain)).toBe(true);
    expect(m("((0008,0060) == 'MR')", mrBrain)).toBe(true);
    expect(m("Modality == (0008,0060)", mrBrain)).toBe(true);
    expect(m("Modality == Manufacturer", mrBrain)).toBe(false);
  });

  it("explains which values it used, once each, including absent ones", () => {
    const r = compileRule('Modality == "MR" && (StudyDescription ~ /brain/i || Modality == "CT" || PatientComments == "")').explain(mrBrain);
    expect(r.matched).toBe(true);
    expect(r.used).toEqual([
      { tag: "(0008,0060)", keyword: "Modality", value: "MR", present: true },
      { tag: "(0008,1030)", keyword: "StudyDescription", value: "MRI BRAIN W/O", present: true },
      { tag: "(0010,4000)", keyword: "PatientComments", value: "", present: false },
    ]);
  });
});

describe("parse errors name the position and what was expected", () => {
  const err = (expr: string) => {
    try {
      compileRule(expr);
    } catch (e) {
      expect(e).toBeInstanceOf(RuleSyntaxError);
      return e as RuleSyntaxError;
    }
    throw new Error(`expected ${expr} not to parse`);
  };

  it.each([
    ["", 1, /condition/],
    ['Modality = "MR"', 10, /"=="/],
    ['Modality == "MR" &', 18, /"&&"/],
    ['Modality == "MR" && ', 21, /a value .* after|value/],
    ['Modality == "MR', 16, /closing "/],
    ['Modalty == "MR"', 1, /DICOM keyword/],
    ['Modality "MR"', 10, /an operator/],
    ['Modality ~ "MR"', 12, /regular expression/],
    ["Modality ~ /MR", 15, /closing "\/"/],
    ["Modality ~ /MR/g", 16, /flags/],
    ["Modality ~ /(/", 12, /valid regular expression/],
    ['(Modality == "MR"', 18, /"\)" to close the "\(" at column 1/],
    ['Modality == "MR")', 17, /no matching/],
    ['Modality == "MR" Modality', 18, /"&&", "\|\|" or the end/],
    ['[0008,00x0] == "MR"', 1, /\[gggg,eeee\]/],
    ['Modality CONTAINS "MR"', 10, /case-sensitive/],
    ['Modality == "MR" @', 18, /found "@"/],
  ])("%s → column %i", (expr, column, message) => {
    const e = err(expr);
    expect(e.column).toBe(column);
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(new RegExp(`^At column ${column}: expected `));
  });

  it("checkRule returns the error or null", () => {
    expect(checkRule('Modality == "MR"')).toBeNull();
    expect(checkRule("Modality ==")).toMatchObject({ column: 12, expected: expect.stringContaining("a value") });
  });

  it("refuses absurd nesting and length instead of overflowing the stack", () => {
    expect(() => compileRule("(".repeat(200) + 'Modality == "MR"' + ")".repeat(200))).toThrow(RuleSyntaxError);
    expect(() => compileRule('Modality == "MR" || '.repeat(300) + 'Modality == "CT"')).toThrow(/at most 4000 characters/);
  });
});

describe("headers read from files", () => {
  it("reads string and binary values of a real sample, without its pixel data", () => {
    const h = readRuleHeader(path.join(SAMPLES_DIR, "dwv__bbmri-53323131.dcm"));
    expect(h(lookupKeyword("Modality")!.tag)).toBe("MR");
    expect(Number(h(lookupKeyword("Rows")!.tag))).toBeGreaterThan(0);
    expect(h(lookupKeyword("PixelData")!.tag)).toBe("");
    expect(h(lookupKeyword("PatientComments")!.tag)).toBeUndefined();
    expect(compileRule('Modality == "MR" && Rows >= 64 && TransferSyntaxUID == "1.2.840.10008.1.2.1"').matches(h)).toBe(true);
  });

  it("reads big endian and deflated files, and says when a file is not DICOM", () => {
    const be = readRuleHeader(readFileSync(path.join(SAMPLES_DIR, "dicomParser__CT1_UNC.explicit_big_endian.dcm")));
    expect(be(lookupKeyword("Modality")!.tag)).toBe("CT");
    expect(Number(be(lookupKeyword("Columns")!.tag))).toBe(512);
    const dfl = readRuleHeader(path.join(SAMPLES_DIR, "dicomParser__report_dfl.dcm"));
    expect(dfl(lookupKeyword("Modality")!.tag)).toBe("SR");
    expect(() => readRuleHeader(Buffer.from("hello, not DICOM at all"))).toThrow(NotReadableError);
  });
});
