// DICOMweb over the local archive, over real HTTP: QIDO-RS (query keys, wildcards, ranges,
// includefield, paging with a Warning), WADO-RS (instances byte for byte, metadata with bulk data
// URIs, frames uncompressed and compressed, bulk data), rendered and thumbnail PNGs, and the
// access rules (session or token, read scope, project-scoped).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PNG } from "pngjs";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import type { RouteServer } from "../helpers/route-server";
import { setDbHandle } from "@/server/db";
import { SESSION_COOKIE, createSession } from "@/server/auth/session";
import { readIndexHeader } from "@/lib/archive/index-header";
import { orderInstances } from "@/lib/viewer/viewer";
import { Prisma } from "@/server/db/generated/client";
import { parseDicom, findElement } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { archiveSamples, readMultipart, startDicomwebReadServer, closeReadTest, type ArchivedFile } from "./read-helpers";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-dicomweb-read-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-dwread-${process.pid}-${randomBytes(3).toString("hex")}`;

const MR_STUDY = ["53323131", "53323275", "53323419", "53323563", "53323707", "53323851"].map((n) => `dwv__bbmri-${n}.dcm`);
const SINGLES = {
  ct: "pydicom__CT_small.dcm",
  be: "dicomParser__CT1_UNC.explicit_big_endian.dcm",
  rle: "pydicom-data__OBXXXX1A_rle_2frame.dcm",
  multiframe: "pydicom-data__emri_small.dcm",
  jls: "highdicom__sm_image_jpegls.dcm",
  mono1: "dwv__gdcm-CR-MONO1-10-chest.dcm",
  rgb: "pydicom-data__SC_rgb.dcm",
  palette: "pydicom-data__OT-PAL-8-face.dcm",
  sr: "dicomParser__report_dfl.dcm",
  jpeg: "pydicom__examples_ybr_color.dcm",
};

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let server: RouteServer;
let files: ArchivedFile[];
let readToken: string;
let stowToken: string;
let otherToken: string;
const byName = (n: string) => files.find((f) => f.name === n)!;

async function get(p: string, opts: { accept?: string; token?: string | null; cookie?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (opts.accept) headers.accept = opts.accept;
  const token = opts.token === undefined ? readToken : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.cookie) headers.cookie = opts.cookie;
  return fetch(`${server.url}${p}`, { headers });
}
const json = async (r: Response) => (await r.json()) as Array<Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }>>;
const v = (ds: Record<string, { Value?: unknown[] }>, tag: string) => ds[tag]?.Value?.[0];
const base = "/dicomweb/projects/DW";
const instPath = (f: ArchivedFile) => `${base}/studies/${f.studyInstanceUid}/series/${f.seriesInstanceUid}/instances/${f.sopInstanceUid}`;

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  for (const id of ["DW", "OTHER"]) {
    await db.prisma.project.create({
      data: {
        id,
        idLower: id.toLowerCase(),
        name: id,
        accessibility: "private",
        members: {
          create: [
            { userId: people.users.owner.id, role: "owner" },
            { userId: people.users.collaborator.id, role: "collaborator" },
          ],
        },
      },
    });
  }
  const owner = callerFor(db.prisma, people.sessions.owner);
  readToken = (await owner.token.create({ projectId: "DW", name: "viewer", scopes: ["read"] })).token;
  stowToken = (await owner.token.create({ projectId: "DW", name: "sender", scopes: ["stow"] })).token;
  otherToken = (await owner.token.create({ projectId: "OTHER", name: "other", scopes: ["read"] })).token;
  files = await archiveSamples(db.prisma, "DW", [...MR_STUDY, ...Object.values(SINGLES)]);
  server = await startDicomwebReadServer();
}, 120_000);

afterAll(async () => {
  await server?.close();
  await closeReadTest(db, dataDir);
});

describe("QIDO-RS", () => {
  it("lists the project's studies with the standard attributes and counts", async () => {
    const res = await get(`${base}/studies`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/dicom+json");
    const body = await json(res);
    const studies = new Set(files.map((f) => f.studyInstanceUid));
    expect(body).toHaveLength(studies.size);
    const mr = body.find((s) => v(s, "0020000D") === byName(MR_STUDY[0]!).studyInstanceUid)!;
    const mrFiles = files.filter((f) => f.studyInstanceUid === byName(MR_STUDY[0]!).studyInstanceUid);
    expect(v(mr, "00201208")).toBe(mrFiles.length);
    expect(v(mr, "00201206")).toBe(new Set(mrFiles.map((f) => f.seriesInstanceUid)).size);
    expect(mr["00080061"]?.Value).toEqual(["MR"]);
    expect(v(mr, "00080056")).toBe("ONLINE");
    expect(v(mr, "00081190")).toBe(`${server.url}${base}/studies/${byName(MR_STUDY[0]!).studyInstanceUid}`);
    const h = readIndexHeader(byName(MR_STUDY[0]!).file);
    expect(v(mr, "00100020")).toBe(h.study.patientId ?? undefined);
    expect(h.study.patientName).toBeTruthy();
    expect(v(mr, "00100010")).toEqual({ Alphabetic: h.study.patientName });
    for (const tag of ["00080020", "00080030", "00080050", "00080090", "00100030", "00100040", "00200010"]) expect(mr[tag], tag).toBeDefined();
    // sorted tags, as DICOM JSON producers write them
    expect(Object.keys(mr)).toEqual([...Object.keys(mr)].sort());
  });

  it("matches PatientID, PatientName with wildcards (case-insensitive), StudyDate ranges, ModalitiesInStudy, AccessionNumber and UID lists", async () => {
    const ct = readIndexHeader(byName(SINGLES.ct).file);
    const uidsOf = async (q: string) => (await json(await get(`${base}/studies?${q}`))).map((s) => v(s, "0020000D")).sort();
    expect(await uidsOf(`PatientID=${encodeURIComponent(ct.study.patientId!)}`)).toContain(byName(SINGLES.ct).studyInstanceUid);
    const name = ct.study.patientName!;
    const wild = `${name.slice(0, 3).toLowerCase()}*`;
    expect(await uidsOf(`PatientName=${encodeURIComponent(wild)}`)).toContain(byName(SINGLES.ct).studyInstanceUid);
    expect(await uidsOf(`00100010=${encodeURIComponent(`${name.slice(0, 2)}?${name.slice(3)}`)}`)).toContain(byName(SINGLES.ct).studyInstanceUid);
    expect(await uidsOf(`PatientName=NoSuchName*`)).toEqual([]);
    const date = ct.study.studyDate!;
    expect(await uidsOf(`StudyDate=${date}`)).toContain(byName(SINGLES.ct).studyInstanceUid);
    expect(await uidsOf(`StudyDate=${date}-`)).toContain(byName(SINGLES.ct).studyInstanceUid);
    expect(await uidsOf(`StudyDate=-${date}`)).toContain(byName(SINGLES.ct).studyInstanceUid);
    expect(await uidsOf(`StudyDate=19000101-19000102`)).toEqual([]);
    const all = await json(await get(`${base}/studies`));
    const withDates = all.filter((s) => v(s, "00080020"));
    const inRange = await uidsOf(`StudyDate=${date.slice(0, 4)}0101-${date.slice(0, 4)}1231`);
    expect(inRange.sort()).toEqual(withDates.filter((s) => String(v(s, "00080020")).startsWith(date.slice(0, 4))).map((s) => v(s, "0020000D")).sort());
    const mrUids = await uidsOf("ModalitiesInStudy=MR");
    expect(mrUids).toContain(byName(MR_STUDY[0]!).studyInstanceUid);
    expect(mrUids).not.toContain(byName(SINGLES.ct).studyInstanceUid);
    expect(await uidsOf("ModalitiesInStudy=CT,MR")).toEqual(expect.arrayContaining([byName(SINGLES.ct).studyInstanceUid, byName(MR_STUDY[0]!).studyInstanceUid]));
    const two = [byName(SINGLES.ct).studyInstanceUid, byName(SINGLES.rgb).studyInstanceUid].sort();
    expect(await uidsOf(`StudyInstanceUID=${two.join(",")}`)).toEqual([...new Set(two)].sort());
    // Accession Numbers (CT_small has none; the CR and the slide image have one each)
    const cr = readIndexHeader(byName(SINGLES.mono1).file).study.accessionNumber;
    const sm = readIndexHeader(byName(SINGLES.jls).file).study.accessionNumber;
    expect(cr, "the CR sample has an Accession Number").toBeTruthy();
    expect(sm, "the slide sample has an Accession Number").toBeTruthy();
    expect(await uidsOf(`AccessionNumber=${encodeURIComponent(cr!)}`)).toEqual([byName(SINGLES.mono1).studyInstanceUid]);
    expect(await uidsOf(`00080050=${encodeURIComponent(sm!)}`)).toEqual([byName(SINGLES.jls).studyInstanceUid]);
    expect(await uidsOf(`AccessionNumber=${encodeURIComponent(cr!.slice(0, 4))}*`)).toEqual([byName(SINGLES.mono1).studyInstanceUid]);
    expect(await uidsOf(`AccessionNumber=${encodeURIComponent(cr!.slice(0, -1))}`)).toEqual([]); // no prefix match without a wildcard
    expect(await uidsOf(`AccessionNumber=NoSuchAccession`)).toEqual([]);
    const withAcc = await json(await get(`${base}/studies?AccessionNumber=${encodeURIComponent(cr!)}`));
    expect(v(withAcc[0]!, "00080050")).toBe(cr);
  });

  it("pages with limit and offset and says so in a Warning header when more match", async () => {
    const all = await json(await get(`${base}/studies`));
    const p1 = await get(`${base}/studies?limit=3`);
    expect(p1.headers.get("warning")).toMatch(/^299 atrium ".*offset=3/);
    const p2 = await get(`${base}/studies?limit=3&offset=3`);
    const rest = await get(`${base}/studies?offset=6`);
    expect(rest.headers.get("warning")).toBeNull();
    const ids = [...(await json(p1)), ...(await json(p2)), ...(await json(rest))].map((s) => v(s, "0020000D"));
    expect(ids).toEqual(all.map((s) => v(s, "0020000D")));
  });

  it("refuses malformed values with 400 and a reason, and names unsupported keys in a Warning", async () => {
    for (const q of ["StudyDate=2020", "StudyDate=20200101-20200102-20200103", "limit=-1", "StudyInstanceUID=abc", "SeriesNumber=x", "includefield=NotAKeyword"]) {
      const r = await get(`${base}/studies?${q}`);
      expect(r.status, q).toBe(400);
      expect(((await r.json()) as { error: string }).error.length).toBeGreaterThan(10);
    }
    const r = await get(`${base}/studies?OperatorsName=x&limit=1`);
    expect(r.status).toBe(200);
    expect(r.headers.get("warning")).toMatch(/not supported.*OperatorsName/);
    expect((await get(`${base}/studies`, { accept: "application/dicom+xml" })).status).toBe(406);
  });

  it("includefield adds attributes; series and instances of a study, and across the project", async () => {
    const mr = byName(MR_STUDY[0]!);
    const series = await json(await get(`${base}/studies/${mr.studyInstanceUid}/series`));
    const mrSeries = new Set(files.filter((f) => f.studyInstanceUid === mr.studyInstanceUid).map((f) => f.seriesInstanceUid));
    expect(series.map((s) => v(s, "0020000E")).sort()).toEqual([...mrSeries].sort());
    for (const s of series) {
      expect(v(s, "00080060")).toBe("MR");
      expect(typeof v(s, "00201209")).toBe("number");
      expect(v(s, "00081190")).toBe(`${server.url}${base}/studies/${mr.studyInstanceUid}/series/${v(s, "0020000E")}`);
    }
    const one = series[0]!;
    const n = v(one, "00200011");
    expect(typeof n).toBe("number");
    expect((await json(await get(`${base}/studies/${mr.studyInstanceUid}/series?SeriesNumber=${n}`))).map((s) => v(s, "0020000E"))).toContain(v(one, "0020000E"));
    const inst = await json(await get(`${base}/studies/${mr.studyInstanceUid}/instances`));
    expect(inst.map((i) => v(i, "00080018")).sort()).toEqual(files.filter((f) => f.studyInstanceUid === mr.studyInstanceUid).map((f) => f.sopInstanceUid).sort());
    expect(v(inst[0]!, "00083002")).toBe("1.2.840.10008.1.2.1");
    expect(typeof v(inst[0]!, "00280010")).toBe("number");
    const inSeries = await json(await get(`${base}/studies/${mr.studyInstanceUid}/series/${v(one, "0020000E")}/instances?SOPInstanceUID=${v(inst[0]!, "00080018")}`));
    expect(inSeries.length).toBeLessThanOrEqual(1);
    const allSeries = await json(await get(`${base}/series?Modality=MR`));
    expect(allSeries.every((s) => v(s, "00080060") === "MR")).toBe(true);
    expect(allSeries.length).toBeGreaterThanOrEqual(mrSeries.size);
    const ctInstances = await json(await get(`${base}/instances?Modality=CT&includefield=all`));
    expect(ctInstances.length).toBeGreaterThanOrEqual(1);
    expect(ctInstances[0]!["00100020"]).toBeDefined(); // study attributes with includefield=all
    const withDesc = await json(await get(`${base}/studies?includefield=00081030&limit=1`));
    expect(withDesc[0]!["00081030"]).toBeDefined();
    // a study-level query by a series key
    expect((await json(await get(`${base}/studies?SeriesInstanceUID=${v(one, "0020000E")}`))).map((s) => v(s, "0020000D"))).toEqual([mr.studyInstanceUid]);
  });
});

describe("WADO-RS", () => {
  it("retrieves a study as multipart/related application/dicom, each part the stored file byte for byte", async () => {
    const mr = byName(MR_STUDY[0]!);
    const res = await get(`${base}/studies/${mr.studyInstanceUid}`, { accept: 'multipart/related; type="application/dicom"' });
    expect(res.status).toBe(200);
    const { type, parts } = await readMultipart(res);
    expect(type).toBe("application/dicom");
    const mine = files.filter((f) => f.studyInstanceUid === mr.studyInstanceUid);
    expect(parts).toHaveLength(mine.length);
    for (const p of parts) {
      expect(p.headers.get("content-type")).toBe("application/dicom; transfer-syntax=1.2.840.10008.1.2.1");
      const sop = p.headers.get("content-location")!.split("/").at(-1)!;
      const f = mine.find((x) => x.sopInstanceUid === sop)!;
      expect(p.body.equals(readFileSync(f.file))).toBe(true);
    }
  });

  it("retrieves a series and one instance (also as a single application/dicom body); any syntax with transfer-syntax=*", async () => {
    const f = byName(SINGLES.jls);
    const series = await readMultipart(await get(`${base}/studies/${f.studyInstanceUid}/series/${f.seriesInstanceUid}`, { accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' }));
    expect(series.parts.map((p) => p.body.equals(readFileSync(f.file)))).toContain(true);
    const single = await get(instPath(f), { accept: "application/dicom" });
    expect(single.headers.get("content-type")).toBe(`application/dicom; transfer-syntax=${f.transferSyntaxUid}`);
    expect(Buffer.from(await single.arrayBuffer()).equals(readFileSync(f.file))).toBe(true);
    const noTranscode = await get(instPath(f), { accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1' });
    expect(noTranscode.status).toBe(406);
    expect(((await noTranscode.json()) as { error: string }).error).toMatch(/does not transcode/);
    expect((await get(instPath(f), { accept: "image/jpeg" })).status).toBe(406);
  });

  it("404 for what is not in the project, 400 for a malformed UID, without echoing UIDs", async () => {
    const f = byName(SINGLES.ct);
    const missing = await get(`${base}/studies/1.2.3.4.5.6.7`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).not.toMatch(/1\.2\.3\.4/);
    expect((await get(`${base}/studies/${f.studyInstanceUid}/series/1.2.3/instances/${f.sopInstanceUid}`)).status).toBe(404);
    expect((await get(`${base}/studies/not-a-uid`)).status).toBe(400);
    expect((await get(`${base}/studies/${f.studyInstanceUid}/nonsense`)).status).toBe(404);
  });

  it("metadata: DICOM JSON of every instance with BulkDataURIs for pixel data and large binary values", async () => {
    const mr = byName(MR_STUDY[0]!);
    const res = await get(`${base}/studies/${mr.studyInstanceUid}/metadata`);
    expect(res.headers.get("content-type")).toBe("application/dicom+json");
    const md = await json(res);
    expect(md).toHaveLength(files.filter((f) => f.studyInstanceUid === mr.studyInstanceUid).length);
    const one = md.find((m) => v(m, "00080018") === mr.sopInstanceUid)!;
    expect(v(one, "0020000D")).toBe(mr.studyInstanceUid);
    expect(one["7FE00010"]?.BulkDataURI).toBe(`${server.url}${instPath(mr)}/bulkdata/7FE00010`);
    expect(v(one, "00083002")).toBe("1.2.840.10008.1.2.1");
    expect(typeof v(one, "00280010")).toBe("number");
    // pixel data through its BulkDataURI equals the file's pixel data
    const bulk = await readMultipart(await get(new URL(one["7FE00010"]!.BulkDataURI!).pathname));
    const parsed = parseDicom(new BufferSource(readFileSync(mr.file)));
    const pix = findElement(parsed.dataset, 0x7fe00010)!;
    expect(bulk.parts).toHaveLength(1);
    expect(bulk.parts[0]!.body.equals(readFileSync(mr.file).subarray(pix.valueOffset, pix.valueOffset + pix.length))).toBe(true);
    // instance and series metadata
    expect(await json(await get(`${instPath(mr)}/metadata`))).toHaveLength(1);
    expect((await json(await get(`${base}/studies/${mr.studyInstanceUid}/series/${mr.seriesInstanceUid}/metadata`))).length).toBeGreaterThanOrEqual(1);
    // a deflated SR: readable metadata, text and sequences
    const sr = await json(await get(`${instPath(byName(SINGLES.sr))}/metadata`));
    expect(sr[0]!["0040A730"]?.vr).toBe("SQ");
  });

  it("metadata: read again, the same answer; an instance whose stored bytes changed (new checksum) is read anew", async () => {
    const [mr, other] = [byName(MR_STUDY[1]!), byName(MR_STUDY[2]!)];
    const path1 = `${instPath(mr)}/metadata`;
    const first = await (await get(path1)).text();
    expect(await (await get(path1)).text()).toBe(first);
    expect(v((JSON.parse(first) as Record<string, { Value?: unknown[] }>[])[0]!, "00080018")).toBe(mr.sopInstanceUid);
    // The stored file is replaced (here by another instance's bytes) and the index records its checksum.
    const row = await db.prisma.archiveInstance.findFirstOrThrow({ where: { sopInstanceUid: mr.sopInstanceUid } });
    const { archiveBlobStore } = await import("@/lib/blob");
    const stored = archiveBlobStore().localPath(row.blobKey)!;
    const original = readFileSync(stored);
    try {
      writeFileSync(stored, readFileSync(other.file));
      await db.prisma.archiveInstance.update({ where: { id: row.id }, data: { sha256: "0".repeat(64) } });
      const again = (await json(await get(path1)))[0]!;
      expect(v(again, "00080018")).toBe(other.sopInstanceUid);
    } finally {
      writeFileSync(stored, original);
      await db.prisma.archiveInstance.update({ where: { id: row.id }, data: { sha256: row.sha256 } });
    }
    expect(await (await get(path1)).text()).toBe(first);
  });

  it("pixeldata: every frame of a series in the viewer's display order, one part each, the frames resource's bytes with their URL and size", async () => {
    const mr = MR_STUDY.map(byName);
    const series = `${base}/studies/${mr[0]!.studyInstanceUid}/series/${mr[0]!.seriesInstanceUid}`;
    const res = await get(`${series}/pixeldata`, { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' });
    expect(res.status).toBe(200);
    const { type, parts } = await readMultipart(res);
    expect(type).toBe("application/octet-stream");
    const geometry = (f: ArchivedFile) => {
      const h = readIndexHeader(f.file).instance;
      return { sopInstanceUid: f.sopInstanceUid, instanceNumber: h.instanceNumber, position: h.imagePosition, orientation: h.imageOrientation, frames: 1 };
    };
    const order = orderInstances(mr.map(geometry)).ordered.map((g) => g.sopInstanceUid);
    expect(parts.map((p) => p.headers.get("content-location"))).toEqual(order.map((sop) => `${series}/instances/${sop}/frames/1`));
    for (const p of parts) {
      expect(p.headers.get("content-type")).toBe("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1");
      expect(Number(p.headers.get("content-length"))).toBe(p.body.length);
      const one = await get(p.headers.get("content-location")!, { accept: "application/octet-stream; transfer-syntax=*" });
      expect(Buffer.from(await one.arrayBuffer()).equals(p.body)).toBe(true);
    }
    // A multi-frame instance: each of its frames, in order.
    const mf = byName(SINGLES.multiframe);
    const mfParts = (await readMultipart(await get(`${base}/studies/${mf.studyInstanceUid}/series/${mf.seriesInstanceUid}/pixeldata`))).parts;
    expect(mfParts.map((p) => p.headers.get("content-location"))).toEqual(Array.from({ length: 10 }, (_, k) => `${instPath(mf)}/frames/${k + 1}`));
    // Compressed frames keep their syntax with transfer-syntax=*; asked for uncompressed only, 406 before any byte.
    const jls = byName(SINGLES.jls);
    const jlsSeries = `${base}/studies/${jls.studyInstanceUid}/series/${jls.seriesInstanceUid}/pixeldata`;
    expect((await readMultipart(await get(jlsSeries, { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' }))).parts[0]!.headers.get("content-type")).toMatch(/transfer-syntax=1\.2\.840\.10008\.1\.2\.4\.8[01]/);
    const refused = await get(jlsSeries, { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1' });
    expect(refused.status).toBe(406);
    expect(((await refused.json()) as { error: string }).error).toMatch(/transfer-syntax=\*/);
    const sr = byName(SINGLES.sr);
    expect((await get(`${base}/studies/${sr.studyInstanceUid}/series/${sr.seriesInstanceUid}/pixeldata`)).status).toBe(406);
    expect((await get(`${base}/studies/${mr[0]!.studyInstanceUid}/series/1.2.3.4/pixeldata`)).status).toBe(404);
  });

  it("frames: uncompressed frames as application/octet-stream (big endian swapped to little), several at once", async () => {
    const mf = byName(SINGLES.multiframe);
    const res = await get(`${instPath(mf)}/frames/2,5`, { accept: 'multipart/related; type="application/octet-stream"' });
    expect(res.status).toBe(200);
    const { type, parts } = await readMultipart(res);
    expect(type).toBe("application/octet-stream");
    const bytes = readFileSync(mf.file);
    const parsed = parseDicom(new BufferSource(bytes));
    const pix = findElement(parsed.dataset, 0x7fe00010)!;
    const h = readIndexHeader(mf.file).instance;
    const frameSize = h.rows! * h.columns! * (h.bitsAllocated! / 8);
    expect(parts.map((p) => p.body.length)).toEqual([frameSize, frameSize]);
    expect(parts[0]!.body.equals(bytes.subarray(pix.valueOffset + frameSize, pix.valueOffset + 2 * frameSize))).toBe(true);
    expect(parts[1]!.body.equals(bytes.subarray(pix.valueOffset + 4 * frameSize, pix.valueOffset + 5 * frameSize))).toBe(true);
    expect((await get(`${instPath(mf)}/frames/11`)).status).toBe(404);
    expect((await get(`${instPath(mf)}/frames/0`)).status).toBe(400);
    const be = byName(SINGLES.be);
    const beFrame = (await readMultipart(await get(`${instPath(be)}/frames/1`))).parts[0]!.body;
    const beBytes = readFileSync(be.file);
    const bePix = findElement(parseDicom(new BufferSource(beBytes)).dataset, 0x7fe00010)!;
    expect(beFrame.readUInt16LE(0)).toBe(beBytes.readUInt16BE(bePix.valueOffset));
    expect(beFrame.readUInt16LE(1000)).toBe(beBytes.readUInt16BE(bePix.valueOffset + 1000));
  });

  it("metadata: revalidated with If-None-Match (304, no body) while the series' stored bytes are the same", async () => {
    const mf = byName(SINGLES.multiframe);
    const path1 = `${base}/studies/${mf.studyInstanceUid}/series/${mf.seriesInstanceUid}/metadata`;
    const first = await get(path1);
    expect(first.status).toBe(200);
    const text = await first.text();
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^W\//);
    const again = (ifNoneMatch: string) => fetch(`${server.url}${path1}`, { headers: { authorization: `Bearer ${readToken}`, "if-none-match": ifNoneMatch } });
    const hit = await again(etag);
    expect(hit.status).toBe(304);
    expect(await hit.text()).toBe("");
    const row = (await db.prisma.archiveInstance.findFirst({ where: { sopInstanceUid: mf.sopInstanceUid } }))!;
    await db.prisma.archiveInstance.update({ where: { id: row.id }, data: { sha256: "2".repeat(64) } });
    try {
      const changed = await again(etag);
      expect(changed.status).toBe(200);
      expect(await changed.text()).toBe(text);
    } finally {
      await db.prisma.archiveInstance.update({ where: { id: row.id }, data: { sha256: row.sha256 } });
    }
  });

  it("frames: a weak ETag per stored bytes, frames and Accept; If-None-Match answers 304 with no body, until the bytes change", async () => {
    const mf = byName(SINGLES.multiframe);
    const single = "application/octet-stream; transfer-syntax=*";
    const first = await get(`${instPath(mf)}/frames/3`, { accept: single });
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1");
    const body = Buffer.from(await first.arrayBuffer());
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^W\/"[A-Za-z0-9_-]{32}"$/);
    expect(first.headers.get("cache-control")).toBe("private, no-cache");
    expect(first.headers.get("vary")).toBe("Accept");
    const revalidate = (accept: string, ifNoneMatch: string, frame = 3, token?: string | null) =>
      fetch(`${server.url}${instPath(mf)}/frames/${frame}`, { headers: { accept, "if-none-match": ifNoneMatch, ...(token === null ? {} : { authorization: `Bearer ${token ?? readToken}` }) } });
    const notModified = await revalidate(single, `"other", ${etag}`);
    expect(notModified.status).toBe(304);
    expect((await notModified.arrayBuffer()).byteLength).toBe(0);
    expect(notModified.headers.get("etag")).toBe(etag);
    // Another frame, another Accept: other representations, answered in full.
    expect((await revalidate(single, etag, 4)).status).toBe(200);
    const multipart = await revalidate('multipart/related; type="application/octet-stream"', etag);
    expect(multipart.status).toBe(200);
    expect(multipart.headers.get("etag")).not.toBe(etag);
    // The access check still runs: no token, no 304.
    expect((await revalidate(single, etag, 3, null)).status).toBe(401);
    // New bytes under the same instance: the old ETag no longer matches.
    const row = (await db.prisma.archiveInstance.findFirst({ where: { sopInstanceUid: mf.sopInstanceUid } }))!;
    await db.prisma.archiveInstance.update({ where: { id: row.id }, data: { sha256: "1".repeat(64) } });
    try {
      const changed = await revalidate(single, etag);
      expect(changed.status).toBe(200);
      expect(Buffer.from(await changed.arrayBuffer()).equals(body)).toBe(true);
      expect(changed.headers.get("etag")).not.toBe(etag);
    } finally {
      await db.prisma.archiveInstance.update({ where: { id: row.id }, data: { sha256: row.sha256 } });
    }
  });

  it("frames: compressed frames in their stored syntax (image/jls, image/dicom-rle, or octet-stream with transfer-syntax=*); 406 when only uncompressed is acceptable", async () => {
    const jls = byName(SINGLES.jls);
    const asJls = await readMultipart(await get(`${instPath(jls)}/frames/1`, { accept: 'multipart/related; type="image/jls"' }));
    expect(asJls.type).toBe("image/jls");
    expect(asJls.parts[0]!.headers.get("content-type")).toBe(`image/jls; transfer-syntax=${jls.transferSyntaxUid}`);
    expect(asJls.parts[0]!.body.subarray(0, 2).toString("hex")).toBe("ffd8");
    const star = await readMultipart(await get(`${instPath(jls)}/frames/1`, { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' }));
    expect(star.parts[0]!.body.equals(asJls.parts[0]!.body)).toBe(true);
    const refused = await get(`${instPath(jls)}/frames/1`, { accept: 'multipart/related; type="application/octet-stream"' });
    expect(refused.status).toBe(406);
    expect(((await refused.json()) as { error: string }).error).toMatch(/transfer-syntax=\*/);
    const rle = byName(SINGLES.rle);
    const rleFrames = await readMultipart(await get(`${instPath(rle)}/frames/1,2`, { accept: "multipart/related; type=image/dicom-rle" }));
    expect(rleFrames.parts).toHaveLength(2);
    expect(rleFrames.parts[0]!.body.readUInt32LE(0)).toBeGreaterThanOrEqual(1); // the RLE header: number of segments
    expect(rleFrames.parts[0]!.body.equals(rleFrames.parts[1]!.body)).toBe(false);
    const jpeg = byName(SINGLES.jpeg);
    const jf = await readMultipart(await get(`${instPath(jpeg)}/frames/30`));
    expect(jf.parts[0]!.headers.get("content-type")).toMatch(/^image\/jpeg; transfer-syntax=1\.2\.840\.10008\.1\.2\.4\.50/);
    expect(jf.parts[0]!.body.subarray(0, 2).toString("hex")).toBe("ffd8");
  });

  it("bulk data of non-pixel values, top-level and nested, byte for byte (small ones inline), and 404 for a path with no binary value", async () => {
    const valueOf = (file: string, ...path: Array<number | [number, number]>) => {
      const bytes = readFileSync(file);
      let ds = parseDicom(new BufferSource(bytes)).dataset;
      let el: ReturnType<typeof findElement>;
      for (const step of path) {
        if (Array.isArray(step)) ds = findElement(ds, step[0])!.items![step[1]]!;
        else el = findElement(ds, step);
      }
      return bytes.subarray(el!.valueOffset, el!.valueOffset + el!.length);
    };
    const fetchBulk = async (uri: string) => {
      const r = await get(new URL(uri).pathname, { accept: "application/octet-stream" });
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("application/octet-stream");
      return Buffer.from(await r.arrayBuffer());
    };
    // A small binary value (a 400-byte palette LUT) is inline.
    const palette = byName(SINGLES.palette);
    const lut = (await json(await get(`${instPath(palette)}/metadata`)))[0]!["00281201"]!;
    expect(lut.BulkDataURI).toBeUndefined();
    expect(Buffer.from(lut.InlineBinary!, "base64").equals(valueOf(palette.file, 0x00281201))).toBe(true);
    // A large top-level one (CT_small's 2,068-byte private OB) is bulk data, byte for byte.
    const ct = byName(SINGLES.ct);
    const hist = (await json(await get(`${instPath(ct)}/metadata`)))[0]!["00431029"]!;
    expect(hist).toMatchObject({ vr: "OB", BulkDataURI: `${server.url}${instPath(ct)}/bulkdata/00431029` });
    const histBytes = await fetchBulk(hist.BulkDataURI!);
    expect(histBytes.length).toBe(2068);
    expect(histBytes.equals(valueOf(ct.file, 0x00431029))).toBe(true);
    // A large nested one (the slide's ICC profile inside the Optical Path Sequence) is reachable by its path.
    const sm = byName(SINGLES.jls);
    const opt = (await json(await get(`${instPath(sm)}/metadata`)))[0]!["00480105"]!;
    const icc = (opt.Value![0] as Record<string, { vr: string; BulkDataURI?: string }>)["00282000"]!;
    expect(icc).toEqual({ vr: "OB", BulkDataURI: `${server.url}${instPath(sm)}/bulkdata/00480105/0/00282000` });
    const iccBytes = await fetchBulk(icc.BulkDataURI!);
    expect(iccBytes.length).toBe(3144);
    expect(iccBytes.equals(valueOf(sm.file, [0x00480105, 0], 0x00282000))).toBe(true);
    expect((await get(`${instPath(byName(SINGLES.ct))}/bulkdata/00100010`)).status).toBe(404);
    expect((await get(`${instPath(byName(SINGLES.ct))}/bulkdata/12345678`)).status).toBe(404);
  });
});

describe("rendered and thumbnails", () => {
  const png = async (r: Response) => {
    expect(r.status, r.status === 200 ? "" : await r.clone().text()).toBe(200);
    expect(r.headers.get("content-type")).toBe("image/png");
    return PNG.sync.read(Buffer.from(await r.arrayBuffer()));
  };

  it("renders a series' first image in the viewer's display order (by position along the slice normal, not Instance Number) from the index's geometry, and fills in the geometry of instances indexed without it", async () => {
    const mr = MR_STUDY.map(byName);
    const geometry = (f: ArchivedFile) => {
      const h = readIndexHeader(f.file).instance;
      return { sopInstanceUid: f.sopInstanceUid, instanceNumber: h.instanceNumber, position: h.imagePosition, orientation: h.imageOrientation, frames: 1 };
    };
    // In this MR series the positions run against the Instance Numbers: the viewer shows the last-numbered slice first.
    expect(orderInstances(mr.map(geometry)).ordered[0]!.sopInstanceUid).toBe(byName(MR_STUDY[5]!).sopInstanceUid);
    const series = `${base}/studies/${mr[0]!.studyInstanceUid}/series/${mr[0]!.seriesInstanceUid}`;
    const direct = await png(await get(`${instPath(byName(MR_STUDY[5]!))}/rendered`));
    const first = await png(await get(`${series}/rendered?image=first`, { accept: "image/png" }));
    expect([first.width, first.height]).toEqual([direct.width, direct.height]);
    expect(first.data.equals(direct.data)).toBe(true);
    expect(first.data.equals((await png(await get(`${instPath(byName(MR_STUDY[0]!))}/rendered`))).data)).toBe(false);
    const stored = await db.prisma.archiveInstance.findMany({ where: { sopInstanceUid: { in: mr.map((f) => f.sopInstanceUid) } }, select: { sopInstanceUid: true, geometry: true } });
    for (const f of mr) {
      const g = geometry(f);
      expect(stored.find((r) => r.sopInstanceUid === f.sopInstanceUid)!.geometry).toEqual({ position: g.position, orientation: g.orientation });
    }
    // Instances archived before the index kept geometry: read from their files once, the same answer.
    await db.prisma.archiveInstance.updateMany({ where: { sopInstanceUid: { in: mr.map((f) => f.sopInstanceUid) } }, data: { geometry: Prisma.DbNull } });
    expect((await png(await get(`${series}/rendered?image=first`))).data.equals(direct.data)).toBe(true);
    const refilled = await db.prisma.archiveInstance.findMany({ where: { sopInstanceUid: { in: mr.map((f) => f.sopInstanceUid) } }, select: { geometry: true } });
    expect(refilled.every((r) => r.geometry !== null)).toBe(true);
    expect((await png(await get(`${series}/rendered?image=first&window=40,10`))).data.equals(direct.data)).toBe(false);
    const bare = await get(`${series}/rendered`);
    expect(bare.status).toBe(400);
    expect(((await bare.json()) as { error: string }).error).toContain("rendered?image=first");
    const sr = byName(SINGLES.sr);
    expect((await get(`${base}/studies/${sr.studyInstanceUid}/series/${sr.seriesInstanceUid}/rendered?image=first`)).status).toBe(406);
    expect((await get(`${base}/studies/${mr[0]!.studyInstanceUid}/series/1.2.3.4/rendered?image=first`)).status).toBe(404);
  });

  it("renders a CT with its window as a grayscale PNG of its size; window= and viewport= change it", async () => {
    const ct = byName(SINGLES.ct);
    const h = readIndexHeader(ct.file).instance;
    const img = await png(await get(`${instPath(ct)}/rendered`, { accept: "image/png" }));
    expect([img.width, img.height]).toEqual([h.columns, h.rows]);
    const grays = new Set<number>();
    for (let i = 0; i < img.data.length; i += 4) grays.add(img.data[i]!);
    expect(grays.size).toBeGreaterThan(20);
    const narrow = await png(await get(`${instPath(ct)}/rendered?window=40,10`));
    expect(narrow.data.equals(img.data)).toBe(false);
    const small = await png(await get(`${instPath(ct)}/frames/1/rendered?viewport=32,16`));
    expect(small.height).toBe(16);
    expect(small.width).toBeLessThanOrEqual(32);
    expect((await get(`${instPath(ct)}/rendered?window=abc`)).status).toBe(400);
  });

  it("thumbnails fit 128 pixels at instance, series and study level", async () => {
    const mr = byName(MR_STUDY[0]!);
    for (const p of [`${instPath(mr)}/thumbnail`, `${base}/studies/${mr.studyInstanceUid}/series/${mr.seriesInstanceUid}/thumbnail`, `${base}/studies/${mr.studyInstanceUid}/thumbnail`]) {
      const img = await png(await get(p));
      expect(Math.max(img.width, img.height), p).toBe(128);
    }
  });

  it("renders MONOCHROME1 inverted, RGB, PALETTE COLOR, RLE, big endian and multi-frame images", async () => {
    for (const name of [SINGLES.mono1, SINGLES.rgb, SINGLES.palette, SINGLES.rle, SINGLES.be, SINGLES.multiframe]) {
      const f = byName(name);
      const img = await png(await get(`${instPath(f)}/thumbnail`));
      expect(img.width * img.height, name).toBeGreaterThan(100);
      let nonZero = 0;
      for (let i = 0; i < img.data.length; i += 4) if (img.data[i] || img.data[i + 1] || img.data[i + 2]) nonZero++;
      expect(nonZero, name).toBeGreaterThan(img.width);
    }
    const rgb = await png(await get(`${instPath(byName(SINGLES.rgb))}/rendered`));
    let colourful = 0;
    for (let i = 0; i < rgb.data.length; i += 4) if (rgb.data[i] !== rgb.data[i + 1] || rgb.data[i] !== rgb.data[i + 2]) colourful++;
    expect(colourful).toBeGreaterThan(100);
    const f2 = await png(await get(`${instPath(byName(SINGLES.rle))}/frames/2/rendered`));
    expect(f2.width).toBeGreaterThan(0);
  });

  it("renders JPEG-LS and JPEG baseline frames over HTTP (decoded on the server)", async () => {
    for (const name of [SINGLES.jls, SINGLES.jpeg]) {
      const r = await get(`${instPath(byName(name))}/rendered`);
      expect(r.status, name).toBe(200);
      const img = await png(r);
      expect(img.width * img.height, name).toBeGreaterThan(50);
    }
  });

  it("answers 406 with what to do for what it cannot render (no pixel data) or a non-PNG Accept", async () => {
    for (const [name, re] of [
      [SINGLES.sr, /no pixel data/],
    ] as const) {
      const r = await get(`${instPath(byName(name))}/rendered`);
      expect(r.status, name).toBe(406);
      expect(((await r.json()) as { error: string }).error).toMatch(re);
    }
    expect((await get(`${instPath(byName(SINGLES.ct))}/rendered`, { accept: "image/jpeg" })).status).toBe(406);
    expect((await get(`${instPath(byName(SINGLES.ct))}/frames/1,2/rendered`)).status).toBe(404);
  });
});

describe("access", () => {
  const path = () => `${base}/studies`;
  const cookie = async (userId: string) => `${SESSION_COOKIE}=${(await createSession(db.prisma, userId)).token}`;

  it("a read token or a collaborator's session reads; anonymous is 401 with a Bearer challenge", async () => {
    expect((await get(path())).status).toBe(200);
    expect((await get(path(), { token: null, cookie: await cookie(people.users.collaborator.id) })).status).toBe(200);
    const anon = await get(path(), { token: null });
    expect(anon.status).toBe(401);
    expect(anon.headers.get("www-authenticate")).toMatch(/^Bearer realm="atrium"/);
    const bad = await get(path(), { token: "atr_" + "x".repeat(43) });
    expect(bad.status).toBe(401);
  });

  it("a stow-only token, another project's token, or an outsider are refused; nothing leaks", async () => {
    const stow = await get(path(), { token: stowToken });
    expect(stow.status).toBe(403);
    expect(((await stow.json()) as { error: string }).error).toMatch(/"read" scope/);
    expect((await get(path(), { token: otherToken })).status).toBe(403);
    const outsider = await get(`${instPath(byName(SINGLES.ct))}/rendered`, { token: null, cookie: await cookie(people.users.outsider.id) });
    expect(outsider.status).toBe(404);
    // the OTHER project's archive is empty: a DW study is not found through it
    const other = await get(`/dicomweb/projects/OTHER/studies/${byName(SINGLES.ct).studyInstanceUid}`, { token: otherToken });
    expect(other.status).toBe(404);
    expect(await json(await get(`/dicomweb/projects/OTHER/studies`, { token: otherToken }))).toEqual([]);
  });
});
