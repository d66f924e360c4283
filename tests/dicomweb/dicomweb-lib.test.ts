// The framework-free DICOMweb pieces: QIDO query parsing, wildcard patterns, content negotiation,
// resource paths, frame lists, DICOM JSON of a dataset, and resizing.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { likePattern, parseQuery, QidoError, resultJson, MAX_LIMIT } from "@/lib/dicomweb/qido";
import { negotiateFrames, negotiateInstances, negotiateJson, negotiatePng, parseAccept } from "@/lib/dicomweb/accept";
import { parseResource } from "@/lib/dicomweb/paths";
import { parseFrameList, FrameError, frameMediaType } from "@/lib/dicomweb/frames";
import { elementAtPath, toDicomJson } from "@/lib/dicomweb/json";
import { fitInside, resize, parseViewport, parseWindow, RenderError } from "@/lib/dicomweb/render";
import { decodeText } from "@/lib/dicomweb/charset";
import { parseDicom } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { SAMPLES_DIR } from "@/lib/samples";

const q = (s: string, level: "study" | "series" | "instance" = "study") => parseQuery(new URLSearchParams(s), level);

describe("QIDO query parsing", () => {
  it("reads keys by keyword or tag, wildcards, ranges, UID lists, paging", () => {
    const a = q("PatientName=doe*&00100020=P1&StudyDate=20200101-&StudyInstanceUID=1.2,1.3&limit=5&offset=10&ModalitiesInStudy=CT\\MR");
    expect(a.match.PatientName).toEqual({ kind: "text", pattern: "doe*", wildcard: true, caseInsensitive: true });
    expect(a.match.PatientID).toEqual({ kind: "text", pattern: "P1", wildcard: false, caseInsensitive: false });
    expect(a.match.StudyDate).toEqual({ kind: "range", from: "20200101", to: null });
    expect(a.match.StudyInstanceUID).toEqual({ kind: "uids", values: ["1.2", "1.3"] });
    expect(a.match.ModalitiesInStudy).toEqual({ kind: "list", values: ["CT", "MR"] });
    expect([a.limit, a.offset]).toEqual([5, 10]);
    expect(q("StudyDate=2020-01-01").match.StudyDate).toEqual({ kind: "range", from: "20200101", to: "20200101" });
    expect(q("StudyDate=-20201231").match.StudyDate).toEqual({ kind: "range", from: null, to: "20201231" });
    expect(q("limit=999999").limit).toBe(MAX_LIMIT);
    expect(q("PatientName=*").match.PatientName).toBeUndefined();
    expect(q("PatientName=smith&fuzzymatching=true").match.PatientName).toMatchObject({ pattern: "*smith*", wildcard: true });
  });

  it("includefield adds attributes of the level and above; unknown keys are reported, malformed values refused", () => {
    expect([...q("includefield=PatientBirthDate,00081030").include]).toEqual(expect.arrayContaining(["PatientBirthDate", "StudyDescription"]));
    expect(q("includefield=all", "instance").include.has("PatientID")).toBe(true);
    expect(q("includefield=SeriesDescription").include.has("SeriesDescription")).toBe(true); // harmless: not returned at study level
    expect(q("OperatorsName=x&00431028=y").ignored).toEqual(["OperatorsName", "(0043,1028)"]);
    for (const bad of ["StudyDate=2020", "StudyDate=a-b", "StudyTime=25", "SeriesNumber=1.5", "StudyInstanceUID=1.2.x", "offset=-3", "includefield=Nope"]) {
      expect(() => q(bad), bad).toThrow(QidoError);
    }
  });

  it("turns DICOM wildcards into LIKE patterns with LIKE's own characters escaped", () => {
    expect(likePattern("Sm?th*")).toBe("Sm_th%");
    expect(likePattern("50%_a\\b")).toBe("50\\%\\_a\\\\b");
  });

  it("builds result JSON sorted by tag with RetrieveURL and availability; person names split into components", () => {
    const row = {
      studyInstanceUid: "1.2",
      studyDate: "20200101",
      studyTime: null,
      accessionNumber: null,
      modalities: ["CT"],
      referringPhysicianName: null,
      studyDescription: null,
      patientName: "Doe^J=ド^ジ",
      patientId: "P1",
      patientBirthDate: null,
      patientSex: null,
      dicomStudyId: null,
      numberOfSeries: 2,
      numberOfInstances: 9,
    };
    const j = resultJson("study", q("").include, row, "http://x/studies/1.2");
    expect(Object.keys(j)).toEqual([...Object.keys(j)].sort());
    expect(j["00100010"]).toEqual({ vr: "PN", Value: [{ Alphabetic: "Doe^J", Ideographic: "ド^ジ" }] });
    expect(j["00201206"]).toEqual({ vr: "IS", Value: [2] });
    expect(j["00080030"]).toEqual({ vr: "TM" });
    expect(j["00081190"]).toEqual({ vr: "UR", Value: ["http://x/studies/1.2"] });
  });
});

describe("content negotiation", () => {
  it("parses Accept with quoted parameters and q values", () => {
    expect(parseAccept('multipart/related; type="application/dicom"; transfer-syntax=*, application/json;q=0.5')).toEqual([
      { type: "multipart/related", params: { type: "application/dicom", "transfer-syntax": "*" }, q: 1 },
      { type: "application/json", params: {}, q: 0.5 },
    ]);
    expect(parseAccept(null)).toEqual([{ type: "*/*", params: {}, q: 1 }]);
  });

  it("instances: multipart application/dicom, a single application/dicom, a transfer syntax list", () => {
    expect(negotiateInstances(null, false)).toEqual({ ok: true, multipart: true, syntaxes: "*" });
    expect(negotiateInstances("application/dicom", true)).toMatchObject({ ok: true, multipart: false });
    expect(negotiateInstances("application/dicom", false).ok).toBe(false);
    const r = negotiateInstances('multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1', false);
    expect(r.ok && r.syntaxes !== "*" && [...r.syntaxes]).toEqual(["1.2.840.10008.1.2.1"]);
    expect(negotiateInstances("image/jpeg", true).ok).toBe(false);
    expect(negotiateJson("application/dicom+json")).toBe(true);
    expect(negotiateJson("application/dicom+xml")).toBe(false);
    expect(negotiatePng("image/*")).toBe(true);
    expect(negotiatePng("image/jpeg")).toBe(false);
  });

  it("frames: octet-stream for native, the stored syntax's media type for compressed", () => {
    const JLS = "1.2.840.10008.1.2.4.80";
    expect(negotiateFrames(null, "1.2.840.10008.1.2.1", false, false)).toEqual({ ok: true, partType: "application/octet-stream", transferSyntax: "1.2.840.10008.1.2.1", multipart: true });
    expect(negotiateFrames(null, JLS, true, false)).toMatchObject({ ok: true, partType: "image/jls", transferSyntax: JLS });
    expect(negotiateFrames('multipart/related; type="application/octet-stream"; transfer-syntax=*', JLS, true, false)).toMatchObject({ ok: true, partType: "application/octet-stream", transferSyntax: JLS });
    expect(negotiateFrames('multipart/related; type="application/octet-stream"', JLS, true, false).ok).toBe(false);
    expect(negotiateFrames('multipart/related; type="image/jp2"', JLS, true, false).ok).toBe(false);
    expect(frameMediaType("1.2.840.10008.1.2.5")).toBe("image/dicom-rle");
  });
});

describe("resource paths", () => {
  it("parses every resource and refuses malformed UIDs and unknown paths", () => {
    expect(parseResource(["1.2"])).toEqual({ ok: true, resource: { kind: "retrieve", study: "1.2" } });
    expect(parseResource(["1.2", "series"])).toEqual({ ok: true, resource: { kind: "qido", level: "series", study: "1.2" } });
    expect(parseResource(["1.2", "series", "3.4", "instances", "5.6", "frames", "1,2", "rendered"])).toEqual({
      ok: true,
      resource: { kind: "rendered", study: "1.2", series: "3.4", instance: "5.6", frames: "1,2" },
    });
    expect(parseResource(["1.2", "series", "3.4", "instances", "5.6", "bulkdata", "00540016", "0", "00181074"])).toMatchObject({ ok: true, resource: { kind: "bulkdata", path: ["00540016", "0", "00181074"] } });
    expect(parseResource(["1.2", "series", "3.4", "thumbnail"])).toMatchObject({ ok: true, resource: { kind: "thumbnail", series: "3.4" } });
    expect(parseResource(["1.2", "series", "3.4", "rendered"])).toEqual({ ok: true, resource: { kind: "rendered", study: "1.2", series: "3.4" } });
    expect(parseResource(["abc"])).toMatchObject({ ok: false, status: 400 });
    expect(parseResource(["1.2", "series", "x"])).toMatchObject({ ok: false, status: 400 });
    expect(parseResource(["1.2", "rendered"])).toMatchObject({ ok: false, status: 404 });
    expect(parseResource(["1.2", "series", "3.4", "instances", "5.6", "frames", "1", "x"])).toMatchObject({ ok: false, status: 404 });
  });

  it("frame lists are 1-based and within the instance", () => {
    expect(parseFrameList("1,3", 3)).toEqual([1, 3]);
    expect(() => parseFrameList("0", 3)).toThrow(FrameError);
    expect(() => parseFrameList("4", 3)).toThrow(/3 frame\(s\)/);
    expect(() => parseFrameList("1,,2", 3)).toThrow(FrameError);
  });
});

describe("DICOM JSON of a dataset", () => {
  it("converts text, numbers, person names, sequences; pixel data becomes a BulkDataURI reachable by its path", () => {
    const bytes = readFileSync(path.join(SAMPLES_DIR, "pydicom__CT_small.dcm"));
    const parsed = parseDicom(new BufferSource(bytes));
    const j = toDicomJson(parsed.dataset, { littleEndian: true, bulkDataBase: "http://x/bulkdata" });
    expect(j["7FE00010"]).toEqual({ vr: "OW", BulkDataURI: "http://x/bulkdata/7FE00010" });
    expect(typeof j["00280010"]?.Value?.[0]).toBe("number");
    expect(j["00100010"]?.vr).toBe("PN");
    expect(j["00020010"]).toBeUndefined();
    expect(elementAtPath(parsed.dataset, ["7FE00010"])?.tag).toBe(0x7fe00010);
    expect(elementAtPath(parsed.dataset, ["7FE00010", "0"])).toBeUndefined();
    const seqTag = Object.keys(j).find((k) => j[k]!.vr === "SQ" && j[k]!.Value?.length);
    if (seqTag) expect(typeof j[seqTag]!.Value![0]).toBe("object");
  });

  it("decodes text by the Specific Character Set", () => {
    expect(decodeText(Buffer.from("Buc^J\xe9r\xf4me", "latin1"), "ISO_IR 100")).toBe("Buc^Jérôme");
    expect(decodeText(Buffer.from("Wang^XiaoDong=王^小東", "utf8"), "ISO_IR 192")).toBe("Wang^XiaoDong=王^小東");
    expect(decodeText(Buffer.from([0xb1, 0xe2]), "ISO_IR 144")).toBe("Бт");
  });
});

describe("render helpers", () => {
  it("fits and resizes by area average; parses window and viewport", () => {
    expect(fitInside(512, 256, { width: 128, height: 128 })).toEqual({ width: 128, height: 64 });
    const src = Buffer.from([0, 255, 0, 255, 100, 100, 100, 100]); // 4x2 gray
    expect([...resize(src, 4, 2, 1, 2, 1)]).toEqual([114, 114]);
    expect(parseWindow("40,400")).toEqual({ center: 40, width: 400, fn: "linear" });
    expect(parseWindow("40,400,SIGMOID")).toEqual({ center: 40, width: 400, fn: "sigmoid" });
    expect(() => parseWindow("40,0")).toThrow(RenderError);
    expect(parseViewport("64,32")).toEqual({ width: 64, height: 32 });
    expect(() => parseViewport("0,10")).toThrow(RenderError);
  });
});
