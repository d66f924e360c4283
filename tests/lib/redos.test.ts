// Issue #17 §2: user-supplied regular expressions (routing rules, CTP script regexes) run on RE2,
// in time linear in the value, so a hostile pattern cannot block the event loop; what RE2 cannot
// compile (backreferences, lookaround) is refused when saved, with the reason.
// On V8's backtracking RegExp the 43-character UID-like value below takes seconds per match
// (x2.2 per added character: ~15 s at 48).
import { describe, expect, it } from "vitest";
import dcmjs from "dcmjs";
import { compileRule, checkRule, createRuleInput } from "@/lib/intake/rules";
import { lookupKeyword } from "@/lib/dicom/dictionary";
import { parseCtpScript } from "@/lib/dicom/ctp/script";
import { ctpScriptPatternProblems } from "@/lib/dicom/ctp/patterns";
import { deidentify } from "@/lib/dicom/deid";
import { floorTags } from "@/lib/dicom/floor";
import { MemoryPseudonymStore } from "@/lib/dicom/pseudonyms";
import { encodedToBuffer } from "@/lib/dicom/write";
import { parseDicom, stringValue } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { deidScriptSchema } from "@/lib/intake/settings";
import { checkPattern, compilePattern, PatternError } from "@/lib/regex";
import { readSample } from "../dicom/helpers";
import { buildConfig } from "@/lib/dicom/batch";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
(dcmjs as any).log?.setLevel?.("silent");
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { DicomMessage } = (dcmjs as any).data;

/** UID-like: digit runs and dots, then a character that makes every split fail. */
const HOSTILE_UID = `1.2.840.113619.2.55.3.6041318${"1".repeat(13)}!`;
const HOSTILE_PATTERN = String.raw`^(\d+\.?)+$`;

function timed<T>(f: () => T): { value: T; ms: number } {
  const t = performance.now();
  const value = f();
  return { value, ms: performance.now() - t };
}

describe("routing rules run on RE2", () => {
  it("a catastrophic pattern finishes in milliseconds through the rules engine", () => {
    expect(HOSTILE_UID).toHaveLength(43);
    const tag = lookupKeyword("SOPInstanceUID")!.tag;
    const rule = compileRule(`SOPInstanceUID ~ /${HOSTILE_PATTERN}/`);
    const first = timed(() => rule.matches((t) => (t === tag ? HOSTILE_UID : undefined)));
    expect(first.value).toBe(false);
    expect(first.ms).toBeLessThan(250);
    // The issue's own example, and a value 10,000 times as long: still linear.
    const ones = compileRule('SOPInstanceUID ~ /^(1+)+$/');
    expect(timed(() => ones.matches((t) => (t === tag ? `${"1".repeat(40)}!` : undefined))).ms).toBeLessThan(250);
    const long = timed(() => rule.matches((t) => (t === tag ? `${"1.2".repeat(100_000)}!` : undefined)));
    expect(long.value).toBe(false);
    expect(long.ms).toBeLessThan(2_000);
    expect(compileRule(`SOPInstanceUID ~ /${HOSTILE_PATTERN}/`).matches((t) => (t === tag ? "1.2.840.10008" : undefined))).toBe(true);
  });

  it("keeps the flags and the JavaScript syntax people write", () => {
    const desc = lookupKeyword("StudyDescription")!.tag;
    const h = (v: string) => (t: number) => (t === desc ? v : undefined);
    expect(compileRule("StudyDescription ~ /brain/i").matches(h("MRI BRAIN"))).toBe(true);
    expect(compileRule("StudyDescription ~ /^MRI\\s+BRAIN\\b/").matches(h("MRI BRAIN W/O"))).toBe(true);
    expect(compileRule("StudyDescription ~ /[/]x|^a.b$/s").matches(h("a\nb"))).toBe(true);
    expect(compileRule("StudyDescription ~ /^b$/m").matches(h("a\nb"))).toBe(true);
    expect(compileRule("StudyDescription ~ /(?<site>MR)\\d{1,3}/").matches(h("MR12"))).toBe(true);
  });

  it("refuses a backreference or lookaround when the rule is saved, saying why", () => {
    const back = checkRule("StudyDescription ~ /(a+)\\1/");
    expect(back?.column).toBe(20);
    expect(back?.message).toMatch(/backreferences such as \\1 are not supported.*RE2/);
    expect(checkRule("StudyDescription ~ /brain(?=x)/")?.message).toMatch(/lookahead \(\?=…\) is not supported/);
    expect(checkRule("StudyDescription ~ /(?<!x)brain/")?.message).toMatch(/lookbehind \(\?<!…\) is not supported/);
    const saved = createRuleInput.safeParse({ projectId: "P1", expression: "StudyDescription ~ /(a)\\1/" });
    expect(saved.success).toBe(false);
    expect(saved.error?.issues[0]?.message).toMatch(/At column 20: .*backreferences/);
  });
});

function withPatientId(value: string): Buffer {
  const src = readSample("pydicom__CT_small.dcm");
  const msg = DicomMessage.readFile(src.buffer.slice(src.byteOffset, src.byteOffset + src.length));
  msg.dict["00100020"].Value = [value];
  return Buffer.from(msg.write({ allowInvalidVRLength: true }));
}

// These tests are about the patterns: a floor where a site admin approved keeping every element
// (the floor is tested in tests/dicom/floor.test.ts; the engine's own verification still runs).
const APPROVE_ALL = { keepTags: [...floorTags().keys()], keepPrivate: true };

describe("CTP script regexes run on RE2", () => {
  it("@if(…,matches,…) and @contents with a catastrophic pattern finish in milliseconds through the CTP engine", async () => {
    const input = withPatientId(HOSTILE_UID);
    const run = async (rule: string) => {
      const script = parseCtpScript(`<script><e en="T" t="00100020" n="PatientID">${rule}</e></script>`);
      const t = performance.now();
      const o = await deidentify(input, { projectId: "redos", store: new MemoryPseudonymStore(), script, floor: APPROVE_ALL });
      return { o, ms: performance.now() - t };
    };
    const matches = await run(`@if(this,matches,"${HOSTILE_PATTERN.slice(1, -1)}"){@keep()}{@hash(this,10)}`);
    expect(matches.ms).toBeLessThan(1_500);
    expect(matches.o.kind, JSON.stringify(matches.o.kind === "deidentified" ? "" : matches.o)).toBe("deidentified");
    if (matches.o.kind !== "deidentified") return;
    const ds = parseDicom(new BufferSource(encodedToBuffer(matches.o.encoded))).dataset;
    expect(stringValue(ds, 0x00100020)).toMatch(/^\d{10}$/); // no match: hashed
    // @contents finds no match either, so it leaves the ID as it was (and verification holds it back).
    const contents = await run(`@contents(this,"${HOSTILE_PATTERN}","X")`);
    expect(contents.ms).toBeLessThan(1_500);
    expect(contents.o).toMatchObject({ kind: "quarantined", code: "verification_failed" });
  });

  it("refuses a script whose regex RE2 cannot compile when it is saved, naming the rule and the reason", () => {
    const text = `<script><e en="T" t="00100010" n="PatientName">@if(this,matches,"(a)\\1"){@keep()}{@empty()}</e></script>`;
    expect(ctpScriptPatternProblems(parseCtpScript(text))).toEqual([expect.stringMatching(/PatientName.*\(0010,0010\).*backreferences such as \\1/)]);
    const saved = deidScriptSchema.safeParse(text);
    expect(saved.success).toBe(false);
    expect(saved.error?.issues[0]?.message).toMatch(/regular expression.*backreferences such as \\1 are not supported/);
    // Nested in an @if clause, in @lookup's ignore pattern and in @contents.
    const nested = parseCtpScript(
      `<script><e t="00100020" n="PatientID">@if(this,exists){@contents(this,"x(?=y)")}{@lookup(this,ptid,ignore,"(?&lt;!a)b")}</e></script>`,
    );
    const problems = ctpScriptPatternProblems(nested);
    expect(problems).toHaveLength(2);
    expect(problems.join(" ")).toMatch(/lookahead/);
    expect(problems.join(" ")).toMatch(/lookbehind/);
    expect(deidScriptSchema.safeParse(`<script><e t="00100010" n="PatientName">@contents(this,"[0-9]+","#")</e></script>`).success).toBe(true);
  });

  it("atrium deid --script refuses such a script before reading any file (buildConfig)", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "atrium-redos-"));
    try {
      const file = path.join(dir, "s.xml");
      writeFileSync(file, `<script><e en="T" t="00100020" n="PatientID">@lookup(this,ptid,ignore,"(x)\\1")</e></script>`);
      expect(() => buildConfig({ projectId: "p", scriptFile: file, salt: "s" }, new MemoryPseudonymStore())).toThrow(/the CTP script s\.xml cannot be used: the rule for PatientID.*backreferences/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the RE2 wrapper", () => {
  it("explains what RE2 refuses", () => {
    expect(checkPattern("(?>a)")).toMatch(/atomic groups/);
    expect(checkPattern("a++")).toMatch(/possessive/);
    expect(checkPattern("\\u00e9")).toMatch(/\\x\{XXXX\}/);
    expect(checkPattern("(a{1000}){1000}")).toMatch(/at most 1000/);
    expect(checkPattern("[a-")).toMatch(/missing closing \]/);
    expect(checkPattern("a", "g")).toMatch(/flag "g"/);
    expect(() => compilePattern("(a)\\1")).toThrow(PatternError);
    expect(compilePattern("(\\d+)-(\\d+)").replaceAll("1-2 3-4", "$2-$1")).toBe("2-1 4-3");
    expect(compilePattern("b+").testWhole("abb")).toBe(false);
    expect(compilePattern("a?b+").testWhole("abb")).toBe(true);
  });
});
