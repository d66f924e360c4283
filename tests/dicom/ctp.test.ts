// CTP anonymizer scripts: the hash test vectors of deid.md §1.5, the script language, and a CTP
// default-style script end to end.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { ctpHash, ctpHashName, ctpHashPtid, ctpHashUid, ctpIncrementDate, ctpRoundAge, ctpInitials } from "@/lib/dicom/ctp/engine";
import { parseCtpScript } from "@/lib/dicom/ctp/script";
import { deidentify, type Outcome } from "@/lib/dicom/deid";
import { MemoryPseudonymStore } from "@/lib/dicom/pseudonyms";
import { encodedToBuffer } from "@/lib/dicom/write";
import { parseDicom, stringValue, findElement } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import dcmjs from "dcmjs";
import { dcmdump, readSample } from "./helpers";
import { floorTags } from "@/lib/dicom/floor";

const { DicomMessage } = dcmjs.data;
const toArrayBuffer = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);

describe("CTP hash functions (deid.md §1.5 test vectors)", () => {
  it("@hashuid", () => {
    expect(ctpHashUid("1.2.840.113654.2.70.1", "1.2.3")).toBe("1.2.840.113654.2.70.1.235153174557024698265416905548613883966");
    expect(ctpHashUid("1.2.840.113654.2.70.1", "1.2.840.10008.5.1.4.1.1.2")).toBe("1.2.840.113654.2.70.1.141317542150934998793762524112515200502");
  });
  it("@hash, @hashname, @hashptid", () => {
    expect(ctpHash("Doe^John", 10)).toBe("2371285227");
    expect(ctpHash("ACC123", 16)).toBe("1041483139756610");
    expect(ctpHashName("Doe^John^Q", 6, 2)).toBe("767339");
    expect(ctpHashPtid("1", "PT001")).toBe("134541027965011575870385576591107887576");
  });
  it("@incrementdate", () => {
    expect(ctpIncrementDate("20200115", -3210)).toBe("20110402");
    expect(ctpIncrementDate("20200115120000.5", 1)).toBe("20200116120000.5");
    expect(ctpIncrementDate("2020", 1)).toBe("");
  });
  it("@round and @initials", () => {
    expect(ctpRoundAge("27Y", 5)).toBe("025Y");
    expect(ctpInitials("Doe^John^Quincy")).toBe("JQD");
    expect(ctpInitials("")).toBe("X");
  });
});

const store = () => new MemoryPseudonymStore();
// These tests are about the script language: a floor where a site admin approved keeping every
// element (the floor itself is tested in floor.test.ts, and the engine's own verification still runs).
const APPROVE_ALL = { keepTags: [...floorTags().keys()], keepPrivate: true };
async function runScript(xml: string, sample: string | Buffer = "pydicom__CT_small.dcm"): Promise<{ o: Outcome; ds?: ReturnType<typeof parseDicom>["dataset"]; out?: Buffer }> {
  const o = await deidentify(typeof sample === "string" ? readSample(sample) : sample, { projectId: "ctp", store: store(), script: parseCtpScript(xml), floor: APPROVE_ALL });
  if (o.kind !== "deidentified") return { o };
  const out = encodedToBuffer(o.encoded);
  return { o, ds: parseDicom(new BufferSource(out)).dataset, out };
}

describe("CTP script language", () => {
  it("evaluates functions, conditions and parameters", async () => {
    const xml = `<script><p t="SITE">S9</p>
      <e en="T" t="00100010" n="PatientName">@if(this,contains,"CompressedSamples"){@param(@SITE)-@initials(this)}{NO}</e>
      <e en="T" t="00100020" n="PatientID">@hashptid(@SITE,this,8)</e>
      <e en="T" t="00081030" n="StudyDescription">@lowercase(SeriesDescription)</e>
      <e en="T" t="00200010" n="StudyID">@truncate(PatientID,-2)</e>
      <e en="T" t="00080090" n="ReferringPhysicianName">@value(InstitutionAddress,"none")</e>
      <e en="T" t="00181030" n="ProtocolName">@contents(this,"[0-9]","#")</e>
      <e en="T" t="00081010" n="StationName">@blank(4)</e>
      <e en="T" t="00321060" n="RequestedProcedureDescription">@always()@require()</e>
      <e en="T" t="00080020" n="StudyDate">@modifydate(this,*,1,*)</e></script>`;
    const { o, ds } = await runScript(xml);
    expect(o.kind).toBe("deidentified");
    const orig = parseDicom(new BufferSource(readSample("pydicom__CT_small.dcm"))).dataset;
    expect(stringValue(ds!, 0x00100010)).toMatch(/^S9-[A-Z]+$/);
    expect(stringValue(ds!, 0x00100020)).toBe(ctpHashPtid("S9", stringValue(orig, 0x00100020)!, 8));
    expect(stringValue(ds!, 0x00200010)).toBe(stringValue(orig, 0x00100020)!.slice(-2));
    expect(stringValue(ds!, 0x00080090)).toBe("none");
    const st = findElement(ds!, 0x00081010)!;
    expect(st.buf.toString("latin1", st.valueOffset, st.valueOffset + st.length)).toBe("    ");
    expect(findElement(ds!, 0x00321060)).toBeDefined();
    expect(stringValue(ds!, 0x00080020)!.slice(4, 6)).toBe("01");
  });
  it("@quarantine, @skip and a lookup miss give the right outcomes", async () => {
    const q = await runScript(`<script><e en="T" t="00100010" n="PatientName">@quarantine()</e></script>`);
    expect(q.o).toMatchObject({ kind: "quarantined", code: "script_quarantine" });
    const s = await runScript(`<script><e en="T" t="00100010" n="PatientName">@if(Modality,equals,CT){@skip()}{@keep()}</e></script>`);
    expect(s.o.kind).toBe("skipped");
    const l = await runScript(`<script><e en="T" t="00100020" n="PatientID">@lookup(this,ptid)</e></script>`);
    expect(l.o).toMatchObject({ kind: "quarantined", code: "script_quarantine" });
    const script = parseCtpScript(`<script><e en="T" t="00100020" n="PatientID">@lookup(this,ptid)</e><e en="T" t="00100010" n="PatientName">@lookup(PatientID,ptid,default,ANON)</e></script>`);
    const pid = stringValue(parseDicom(new BufferSource(readSample("pydicom__CT_small.dcm"))).dataset, 0x00100020)!;
    script.lookup.set(`ptid/${pid}`, "TRIAL-7");
    const ok = await deidentify(readSample("pydicom__CT_small.dcm"), { projectId: "ctp", store: store(), script, floor: APPROVE_ALL });
    expect(ok.kind).toBe("deidentified");
    if (ok.kind === "deidentified") {
      const ds = parseDicom(new BufferSource(encodedToBuffer(ok.encoded))).dataset;
      expect(stringValue(ds, 0x00100020)).toBe("TRIAL-7");
      expect(stringValue(ds, 0x00100010)).toBe("TRIAL-7");
      expect(ok.pseudonym).toBe("TRIAL-7");
    }
  });
  it("@process() recurses into sequence items with @select()", async () => {
    // A sample with a Referenced Image Sequence (processed) and a Source Image Sequence (not), both
    // holding a Referenced SOP Instance UID, plus the same element added at the top level by dcmjs:
    // @select() keeps the root's, hashes the processed item's, and the unprocessed item is not visited.
    const msg = DicomMessage.readFile(toArrayBuffer(readSample("dwv__osirix-toutatix-100.dcm")));
    const ROOT_REF = "1.2.826.0.1.3680043.2.1125.99.1";
    msg.dict["00081155"] = { vr: "UI", Value: [ROOT_REF] };
    const input = Buffer.from(msg.write());
    const orig = parseDicom(new BufferSource(input)).dataset;
    const origRef = stringValue(findElement(orig, 0x00081140)!.items![0]!, 0x00081155)!;
    const origSource = stringValue(findElement(orig, 0x00082112)!.items![0]!, 0x00081155)!;
    expect(stringValue(orig, 0x00081155)).toBe(ROOT_REF);

    const xml = `<script><e en="T" t="00081155" n="ReferencedSOPInstanceUID">@select(){@keep()}{@hashuid(1.2.3,this)}</e>
      <e en="T" t="00081140" n="ReferencedImageSequence">@process()</e><r en="T" t="privategroups">x</r></script>`;
    const { o, ds } = await runScript(xml, input);
    expect(o.kind, JSON.stringify(o.kind === "deidentified" ? "" : o)).toBe("deidentified");
    const seq = findElement(ds!, 0x00081140);
    expect(seq?.items).toHaveLength(1);
    expect(stringValue(seq!.items![0]!, 0x00081155)).toBe(ctpHashUid("1.2.3", origRef));
    expect(stringValue(ds!, 0x00081155)).toBe(ROOT_REF); // @select's root clause
    expect(stringValue(findElement(ds!, 0x00082112)!.items![0]!, 0x00081155)).toBe(origSource); // no @process: not visited
  });
  it("a value left in place by the script is caught by verification", async () => {
    // The script hashes the ID but copies the patient's name into Study Description.
    const { o } = await runScript(`<script><e en="T" t="00100010" n="PatientName">@remove()</e><e en="T" t="00081030" n="StudyDescription">@contents(PatientName)</e></script>`);
    expect(o).toMatchObject({ kind: "quarantined", code: "verification_failed", elementPath: "(0008,1030)" });
  });
});

describe("a CTP default-style script end to end", () => {
  const xml = readFileSync(new URL("./ctp-default-style.xml", import.meta.url), "utf8");
  const script = parseCtpScript(xml);
  it("parses parameters, enabled rules and global options", () => {
    expect(script.params.get("DATEINC")).toBe("-3210");
    expect(script.rules.some((r) => r.tag === 0x00102160)).toBe(false); // en="F"
    expect(script.removePrivateGroups && script.removeOverlays && script.removeCurves).toBe(true);
    expect(script.removeUnspecified).toBe(false);
    expect(script.keepGroups.size).toBe(0);
  });
  for (const sample of ["pydicom__CT_small.dcm", "dwv__osirix-toutatix-100.dcm", "pydicom__examples_overlay.dcm", "dicomParser__CT1_UNC.explicit_big_endian.dcm"]) {
    it(sample, async () => {
      const input = readSample(sample);
      const orig = parseDicom(new BufferSource(input)).dataset;
      // CTP's default keeps times, calibration dates and more that Basic removes: with the plain
      // floor these are quarantined (floor.test.ts); here an admin approved them.
      const o = await deidentify(input, { projectId: "ctp", store: store(), script, floor: APPROVE_ALL });
      expect(o.kind, JSON.stringify(o.kind === "deidentified" ? "" : o)).toBe("deidentified");
      if (o.kind !== "deidentified") return;
      const out = encodedToBuffer(o.encoded);
      const dump = dcmdump(out);
      const ds = parseDicom(new BufferSource(out)).dataset;
      const root = "1.2.840.113654.2.70.1";
      expect(stringValue(ds, 0x00080018)).toBe(ctpHashUid(root, stringValue(orig, 0x00080018)!));
      expect(stringValue(ds, 0x0020000d)).toBe(ctpHashUid(root, stringValue(orig, 0x0020000d)!));
      expect(stringValue(ds, 0x00100020)).toBe(ctpHash(stringValue(orig, 0x00100020)!, 10));
      expect(stringValue(ds, 0x00100010)).toBe(ctpHashName(stringValue(orig, 0x00100010)!, 6, 2));
      if (stringValue(orig, 0x00080020)) expect(stringValue(ds, 0x00080020)).toBe(ctpIncrementDate(stringValue(orig, 0x00080020)!, -3210));
      expect(stringValue(ds, 0x00120062)).toBe("YES");
      expect(stringValue(ds, 0x00120063)).toBe("CTP Default: based on DICOM PS3.15 AnnexE. Details in 0012,0064");
      expect(stringValue(ds, 0x00280303)).toBe("MODIFIED");
      expect(findElement(ds, 0x00120064)?.items?.map((i) => stringValue(i, 0x00080100))).toEqual(["113100", "113105", "113107", "113108", "113109"]);
      expect(findElement(ds, 0x00080080)).toBeUndefined();
      expect(ds.elements.some((e) => (e.tag >>> 16) % 2 === 1)).toBe(false);
      expect(ds.elements.some((e) => e.tag >>> 16 >= 0x6000 && e.tag >>> 16 <= 0x601e)).toBe(false);
      expect(dump).toContain("PatientIdentityRemoved");
    });
  }
});
