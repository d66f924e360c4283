// Every shared sample through the Basic profile: the output parses with DCMTK and dcmjs, no
// identifying value of the input survives, pixel data is byte-identical, the rest is intact.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import dcmjs from "dcmjs";
import { deidentify, type Outcome } from "@/lib/dicom/deid";
import { MemoryPseudonymStore } from "@/lib/dicom/pseudonyms";
import { encodedToBuffer } from "@/lib/dicom/write";
import { parseDicom, findElement } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { qualifies } from "@/lib/dicom/verify";
import { dcmdump, dumpTags, dumpValues, readSample, sampleFiles } from "./helpers";

(dcmjs as any).log?.setLevel?.("silent");

// Identifying attributes checked independently of the engine (read with dcmdump from the input).
const IDENTIFYING = [
  "0010,0010", "0010,0020", "0010,0030", "0010,1000", "0010,1001", "0010,1040", "0010,2154", "0008,0050", "0008,0080",
  "0008,0081", "0008,0090", "0008,1010", "0008,1030", "0008,1048", "0008,1050", "0008,1060", "0008,1070", "0020,0010",
  "0008,0020", "0008,0021", "0008,0022", "0008,0023", "0008,0018", "0020,000d", "0020,000e", "0020,0052", "0040,a123",
  "0032,1032", "0032,1060", "0040,0254", "0040,0253", "0018,1000", "0010,21b0", "0010,4000", "0020,4000", "0008,4000",
];

// Files the engine must hold back or skip, and why (asserted below, so they cannot drift).
const EXPECTED_NOT_RELEASED: Record<string, string> = {
  "dwv__DICOMDIR.dcm": "skipped", // a directory, not an image object
  "dwv__leadtools-flowers-16-mono2-rle.dcm": "quarantined", // no SOP Instance UID
  "pydicom__chrSQEncoding.dcm": "quarantined", // no SOP Class/Instance UID (charset fragment)
  "pydicom__nested_priv_SQ.dcm": "quarantined", // no SOP Class/Instance UID (private SQ fragment)
};

// Attributes listed in PS3.15 Table E.1-1 with an action other than K.
const LISTED = new Set(
  (JSON.parse(readFileSync(new URL("../../lib/dicom/ps315-table-e1-1.json", import.meta.url), "utf8")) as { tag: string; basicProfile: string }[])
    .filter((r) => /^\([0-9A-F]{4},[0-9A-F]{4}\)$/i.test(r.tag) && r.basicProfile !== "K")
    .map((r) => r.tag.slice(1, 10).toLowerCase()),
);

/** Bracketed values of a dcmdump listing, optionally only for tags passing `filter`. */
function allValues(dump: string, filter?: (tag: string) => boolean): string[] {
  const out: string[] = [];
  for (const line of dump.split("\n")) {
    const m = /^\s*\(([0-9a-f]{4},[0-9a-f]{4})\)\s+\w\w\s+\[(.*)\]\s+#/i.exec(line);
    if (m && (!filter || filter(m[1].toLowerCase()))) out.push(m[2]);
  }
  return out;
}

function pixelHash(buf: Buffer): string | undefined {
  const p = parseDicom(new BufferSource(buf));
  const el = findElement(p.dataset, 0x7fe00010);
  if (!el) return undefined;
  const r = el.encapsulated
    ? p.pixelSource.readAt(el.encapsulated.offset, el.encapsulated.length)
    : p.pixelSource.readAt(el.valueOffset, el.length);
  return createHash("sha256").update(r).digest("hex");
}

describe("Basic profile over every shared sample", () => {
  const store = new MemoryPseudonymStore();
  for (const name of sampleFiles()) {
    it(name, async () => {
      const input = readSample(name);
      const outcome: Outcome = await deidentify(input, { projectId: "samples", store });
      if (EXPECTED_NOT_RELEASED[name]) {
        expect(outcome.kind).toBe(EXPECTED_NOT_RELEASED[name]);
        if (outcome.kind === "quarantined") expect(outcome.reason).toMatch(/SOP (Class|Instance) UID/);
        return;
      }
      expect(outcome.kind, JSON.stringify(outcome.kind === "deidentified" ? {} : outcome)).toBe("deidentified");
      if (outcome.kind !== "deidentified") return;
      const out = encodedToBuffer(outcome.encoded);

      // DCMTK parses the output (dcmdump exits non-zero on a parse error).
      const inDump = dcmdump(input);
      const outDump = dcmdump(out);
      expect(outDump).toContain("(0012,0062) CS [YES]");
      expect(outDump).toMatch(/\(0012,0064\) SQ/);
      expect(outDump).toContain("[113100]");

      // dcmjs parses it too (where dcmjs can parse the input at all).
      let dcmjsIn: any;
      try {
        dcmjsIn = dcmjs.data.DicomMessage.readFile(input.buffer.slice(input.byteOffset, input.byteOffset + input.length));
      } catch {
        dcmjsIn = undefined;
      }
      if (dcmjsIn) {
        const dOut = dcmjs.data.DicomMessage.readFile(out.buffer.slice(out.byteOffset, out.byteOffset + out.length));
        const nat = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dOut.dict);
        expect(nat.PatientIdentityRemoved).toBe("YES");
        expect(nat.SOPInstanceUID).toBe(outcome.sopInstanceUID);
        const inPix = dcmjsIn.dict["7FE00010"]?.Value;
        const outPix = dOut.dict["7FE00010"]?.Value;
        if (inPix) expect(Buffer.concat(outPix.map((b: ArrayBuffer) => Buffer.from(b))).equals(Buffer.concat(inPix.map((b: ArrayBuffer) => Buffer.from(b))))).toBe(true);
      }

      // No identifying value of the input among the output's values (any depth). A value that
      // the input also carries in an attribute PS3.15 keeps (e.g. a Procedure Code Sequence
      // meaning equal to the Requested Procedure Description), or that equals one of the
      // engine's dummy words, is not evidence of a leak.
      const outValues = allValues(outDump).join("\u0001").toLowerCase();
      const keptIn = allValues(inDump, (tag) => !LISTED.has(tag) && parseInt(tag.slice(0, 4), 16) % 2 === 0).join("\u0001").toLowerCase() + "\u0001anonymized\u0001anonymous";
      for (const { tag, value } of dumpValues(inDump, IDENTIFYING)) {
        for (const v of new Set([value, ...value.split(/[\\^]/)])) {
          const t = v.trim().toLowerCase();
          if (!qualifies(t) || keptIn.includes(t)) continue;
          expect(outValues.includes(t), `value of (${tag}) survived`).toBe(false);
        }
      }
      // Also in the raw output bytes before the pixel data.
      const rawHead = outcome.encoded.head.toString("latin1").toLowerCase();
      const pn = dumpValues(inDump, ["0010,0010", "0010,0020"])
        .map((x) => x.value.trim().toLowerCase())
        .filter((v) => qualifies(v) && !keptIn.includes(v));
      for (const v of pn) expect(rawHead.includes(v), "patient name/id in raw bytes").toBe(false);

      // Pixel data byte-identical.
      expect(pixelHash(out)).toBe(pixelHash(input));

      // Structure otherwise intact: every non-private tag of the input that the profile does not
      // remove is still there (checked for structural attributes of the image).
      const inTags = dumpTags(inDump, true);
      const outTags = dumpTags(outDump, true);
      for (const t of ["0028,0010", "0028,0011", "0028,0100", "0028,0002", "0028,0004", "0008,0016", "0008,0060", "0020,0013", "0028,0008", "0018,0050", "0020,0032", "0020,0037"]) {
        if (inTags.has(t)) expect(outTags.get(t), `(${t})`).toBe(inTags.get(t));
      }
      // No private element survives the Basic profile.
      for (const t of outTags.keys()) expect(parseInt(t.slice(0, 4), 16) % 2, `private ${t}`).toBe(0);
    });
  }
});
