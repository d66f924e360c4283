// The site de-identification floor, checked on the OUTPUT independently of what the engine meant
// to do (issue #17 §0/§1): whatever a CTP script says, every identifying element of the input (a
// PS3.15-listed element or a private one, at any depth) must be absent or replaced in the output,
// else the instance is quarantined with the element's path (never its value), and Patient
// Identity Removed is only ever released as YES on an output that passed.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { deidentify, type Outcome } from "@/lib/dicom/deid";
import { parseCtpScript } from "@/lib/dicom/ctp/script";
import { MemoryPseudonymStore } from "@/lib/dicom/pseudonyms";
import { encodedToBuffer } from "@/lib/dicom/write";
import { parseDicom, stringValue } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { plant, readSample } from "./helpers";

const CT = () => readSample("pydicom__CT_small.dcm");
const run = (input: Buffer, script: string, floor?: Parameters<typeof deidentify>[1]["floor"]) =>
  deidentify(input, { projectId: "floor", store: new MemoryPseudonymStore(), script: parseCtpScript(script), ...(floor ? { floor } : {}) });

function expectQuarantined(o: Outcome, path: string, secret: string) {
  expect(o.kind, JSON.stringify(o.kind === "deidentified" ? { kind: o.kind } : o)).toBe("quarantined");
  if (o.kind !== "quarantined") return;
  expect(o.code).toBe("verification_failed");
  expect(o.elementPath).toBe(path);
  expect(o.reason).toContain(path);
  expect(o.reason.toLowerCase()).not.toContain(secret.toLowerCase());
}

// The CTP default-style script with "remove unspecified elements" on (it keeps Series Description
// and Device Serial Number, which Basic removes), plus extra rules.
const DEFAULT_STYLE = readFileSync(new URL("./ctp-default-style.xml", import.meta.url), "utf8").replace('<r en="F" t="unspecifiedelements">', '<r en="T" t="unspecifiedelements">');
const APPROVED = { keepTags: [0x0008103e, 0x00181000] };
const complete = (extra = "") => DEFAULT_STYLE.replace("</script>", `${extra}\n</script>`);
// Writes YES itself: a script that claims de-identification while keeping the name.
const KEEP_NAME = complete('<e t="00100010" n="PatientName">@keep()</e>').replace(/<e en="T" t="00100010" n="PatientName">[^<]*<\/e>/, "");

describe("the floor check of the output", () => {
  it("quarantines a script that @keep()s Patient's Name, with the path and not the value", async () => {
    expect(KEEP_NAME).toContain("@always()YES");
    expectQuarantined(await run(CT(), KEEP_NAME, APPROVED), "(0010,0010)", "CompressedSamples");
  });

  it("quarantines a script that changes nothing identifying (no rule for the identity)", async () => {
    const o = await run(CT(), '<script><e t="00081030" n="StudyDescription">@empty()</e></script>');
    expect(o.kind).toBe("quarantined");
    if (o.kind === "quarantined") expect(o.code).toBe("verification_failed");
  });

  it("catches an identifier planted two levels deep in sequences, which a CTP script never visits without @process()", async () => {
    const input = plant(CT(), [{ under: [[0x00400260, 0], [0x00400440, 0]], tag: 0x00080080, vr: "LO", value: "SYNTH DEEP INSTITUTE QWZX" }]);
    // The script keeps the (standard, K) Performed Protocol Code Sequence whole.
    const script = complete('<e t="00400260">@keep()</e>');
    expect((await run(plant(CT(), []), script, APPROVED)).kind).toBe("deidentified");
    expectQuarantined(await run(input, script, APPROVED), "(0040,0260)[0]/(0040,0440)[0]/(0008,0080)", "QWZX");
  });

  it("catches a private element (UN) kept at depth, and a listed element written as UN", async () => {
    // A private element two levels deep in a kept standard sequence: the script keeps the sequence.
    const keptSeq = complete('<e t="00400260">@keep()</e>');
    const deep = plant(CT(), [
      { under: [[0x00400260, 0], [0x00400440, 0]], tag: 0x00290010, vr: "LO", value: "ACME SYNTH" },
      { under: [[0x00400260, 0], [0x00400440, 0]], tag: 0x00291001, vr: "UN", value: "PRIVATE SYNTH ID 4471" },
    ]);
    expectQuarantined(await run(deep, keptSeq, APPROVED), "(0040,0260)[0]/(0040,0440)[0]/(0029,1001)", "4471");
    // Other Patient IDs (listed X) sent as UN, kept by a rule.
    const un = plant(CT(), [{ tag: 0x00101000, vr: "UN", value: "OTHERPID 99812" }]);
    const keepOther = complete('<e t="00101000">@keep()</e>').replace(/<e en="T" t="00101000" n="OtherPatientIDs">[^<]*<\/e>/, "");
    expectQuarantined(await run(un, keepOther, APPROVED), "(0010,1000)", "99812");
  });

  it("releases a script that replaces every identifying element, with YES; approved keeps pass, unapproved do not", async () => {
    const script = DEFAULT_STYLE;
    // The default-style script keeps Series Description and Device Serial Number (both removed by Basic).
    const input = plant(CT(), [
      { tag: 0x0008103e, vr: "LO", value: "SYNTH SERIES QX" },
      { tag: 0x00181000, vr: "LO", value: "SN7788123" },
    ]);
    const without = await run(input, script);
    expect(without.kind).toBe("quarantined");
    if (without.kind === "quarantined") expect(["(0008,103E)", "(0018,1000)"]).toContain(without.elementPath);
    const o = await run(input, script, APPROVED);
    expect(o.kind, JSON.stringify(o.kind === "quarantined" ? o : {})).toBe("deidentified");
    if (o.kind !== "deidentified") return;
    const ds = parseDicom(new BufferSource(encodedToBuffer(o.encoded))).dataset;
    expect(stringValue(ds, 0x00120062)).toBe("YES");
    // A floor with Retain Device Identity lets the serial number through without a tag approval.
    const o2 = await run(input, script, { options: ["retainDeviceIdentity"], keepTags: [0x0008103e] });
    expect(o2.kind).toBe("deidentified");
    const o3 = await run(input, script, { keepTags: [0x0008103e] });
    expect(o3.kind === "quarantined" && o3.elementPath).toBe("(0018,1000)");
  });

  it("checks PS3.15 profiles too: a retain option beyond the floor is caught", async () => {
    const { compileProfile } = await import("@/lib/dicom/profile");
    const input = CT();
    const store = new MemoryPseudonymStore();
    const ok = await deidentify(input, { projectId: "floor", store, profile: compileProfile(["retainUIDs"]), floor: { options: ["retainUIDs"] } });
    expect(ok.kind).toBe("deidentified");
    const held = await deidentify(input, { projectId: "floor", store, profile: compileProfile(["retainUIDs"]), floor: { options: [] } });
    expect(held.kind).toBe("quarantined");
    if (held.kind === "quarantined") expect(held.elementPath).toMatch(/^\((0008|0020),/);
  });

  it("a modified date that by chance equals another original date is no leak; an unmodified one is", async () => {
    const { compileProfile } = await import("@/lib/dicom/profile");
    const profile = compileProfile(["retainLongitudinalModifiedDates"]);
    const floor = { options: ["retainLongitudinalModifiedDates" as const] };
    const dateOf = (o: Outcome, tag: number) => {
      if (o.kind !== "deidentified") throw new Error(JSON.stringify(o));
      return stringValue(parseDicom(new BufferSource(encodedToBuffer(o.encoded))).dataset, tag)!;
    };
    // Learn this patient's shift: Study Date 20040119 → shifted.
    const store = new MemoryPseudonymStore();
    const base = plant(CT(), [{ tag: 0x00080020, vr: "DA", value: "20040119" }]);
    const shifted = dateOf(await deidentify(base, { projectId: "floor", store, profile, floor }), 0x00080020);
    expect(shifted).not.toBe("20040119");
    // Acquisition Date's original value is the Study Date's shifted value: the output's Study Date
    // equals an input value, but it is the modified date, not a copy.
    const coincide = plant(base, [{ tag: 0x00080022, vr: "DA", value: shifted }]);
    const o = await deidentify(coincide, { projectId: "floor", store, profile, floor });
    expect(o.kind, JSON.stringify(o.kind === "deidentified" ? "" : o)).toBe("deidentified");
    expect(dateOf(o, 0x00080020)).toBe(shifted);
  });
});
