// lib/archive/download without a database: the download rule, the zip layout and the zip stream
// (bytes, exact size, cancellation closing files, a missing file failing the zip).
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import {
  decideDownloadAccess,
  downloadQuerySchema,
  downloadSelectionSchema,
  planZip,
  safeSegment,
  zipDownload,
  type DownloadInstance,
} from "@/lib/archive/download";
import { dicomDate, humanBytes, studyLocation, containsPattern, thumbnailUrl } from "@/lib/archive/browse";
import { unzip } from "./seed";

describe("decideDownloadAccess", () => {
  const base = { projectId: "P1", viaToken: false, allowCollaboratorDownload: false };
  it.each([
    ["owner", false, false, true],
    ["member", false, false, true],
    ["collaborator", false, false, false],
    ["collaborator", false, true, true],
    ["collaborator", true, false, true],
    ["listed", false, true, false],
    ["none", false, true, false],
  ] as const)("%s (token %s, allowed %s) → %s", (level, viaToken, allow, ok) => {
    const d = decideDownloadAccess({ ...base, level, viaToken, allowCollaboratorDownload: allow });
    expect(d.ok).toBe(ok);
    if (!d.ok) {
      expect(d.status).toBe(403);
      expect(d.message).toContain('"P1"');
    }
  });
  it("tells a collaborator whom to ask and what to turn on", () => {
    const d = decideDownloadAccess({ ...base, level: "collaborator" });
    expect(d.ok || d.message).toMatch(/owner.*Collaborators may download/);
  });
});

describe("request schemas", () => {
  it("GET names exactly one scan or experiment", () => {
    expect(downloadQuerySchema.safeParse({ scan: "abc" }).success).toBe(true);
    expect(downloadQuerySchema.safeParse({ experiment: "abc" }).success).toBe(true);
    expect(downloadQuerySchema.safeParse({}).success).toBe(false);
    expect(downloadQuerySchema.safeParse({ scan: "a", experiment: "b" }).success).toBe(false);
    expect(downloadQuerySchema.safeParse({ scan: "../x" }).success).toBe(false);
  });
  it("a selection is not empty and has ids only", () => {
    expect(downloadSelectionSchema.safeParse({ scans: ["a"] }).success).toBe(true);
    expect(downloadSelectionSchema.safeParse({}).success).toBe(false);
    expect(downloadSelectionSchema.safeParse({ scans: [], experiments: [] }).success).toBe(false);
    expect(downloadSelectionSchema.safeParse({ scans: ["a b"] }).success).toBe(false);
  });
});

const inst = (o: Partial<DownloadInstance>): DownloadInstance => ({
  subjectLabel: "SUBJ01",
  experimentId: "e1",
  experimentLabel: "SUBJ01_AB12",
  scanId: "s1",
  seriesNumber: 1,
  modality: "MR",
  sopInstanceUid: "1.2.3",
  instanceNumber: 1,
  blobKey: "k",
  sizeBytes: 10,
  ...o,
});

describe("planZip", () => {
  it("lays entries out as subject/experiment/scan/instance.dcm, sorted, with unique names", () => {
    const { entries, summary } = planZip([
      inst({ scanId: "s2", seriesNumber: 2, instanceNumber: 2, blobKey: "b" }),
      inst({ scanId: "s2", seriesNumber: 2, instanceNumber: 1, blobKey: "a" }),
      inst({ scanId: "s1", seriesNumber: 1, instanceNumber: 1, blobKey: "c" }),
      inst({ scanId: "s3", seriesNumber: 1, instanceNumber: 1, blobKey: "d" }), // same series number, another scan
      inst({ scanId: "s3", seriesNumber: 1, instanceNumber: 1, sopInstanceUid: "1.2.4", blobKey: "e" }), // repeated instance number
      inst({ subjectLabel: "A/../B", experimentId: "e2", experimentLabel: "x y", scanId: "s4", modality: null, seriesNumber: null, instanceNumber: null, blobKey: "f" }),
    ]);
    expect(entries.map((e) => [e.name, e.blobKey])).toEqual([
      ["A_.._B/x_y/x/instance.dcm", "f"],
      ["SUBJ01/SUBJ01_AB12/1-MR/000001.dcm", "c"],
      ["SUBJ01/SUBJ01_AB12/1-MR_2/000001.dcm", "d"],
      ["SUBJ01/SUBJ01_AB12/1-MR_2/000001_2.dcm", "e"],
      ["SUBJ01/SUBJ01_AB12/2-MR/000001.dcm", "a"],
      ["SUBJ01/SUBJ01_AB12/2-MR/000002.dcm", "b"],
    ]);
    expect(summary).toEqual({ subjects: 2, experiments: 2, scans: 4, instances: 6, bytes: 60 });
  });
  it("safeSegment never yields a path step", () => {
    expect(safeSegment("..")).toBe("unnamed");
    expect(safeSegment(".hidden")).toBe("_hidden");
    expect(safeSegment("")).toBe("unnamed");
    expect(safeSegment("a/b\\c")).toBe("a_b_c");
  });
});

async function collect(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
  return Buffer.concat(chunks);
}

describe("zipDownload", () => {
  const files = new Map([
    ["k1", randomBytes(100_000)],
    ["k2", randomBytes(0)],
    ["k3", randomBytes(3_000_000)],
  ]);
  const open = (key: string) => Readable.from([files.get(key)!], { objectMode: false });

  it("streams the stored bytes, in store mode, and its size is exact before the first byte", async () => {
    const entries = [...files].map(([key, b], i) => ({ name: `s/e/1/${i}.dcm`, blobKey: key, size: b.length }));
    let outcome = "";
    const z = zipDownload(entries, open, { onFinish: (o) => (outcome = o.status) });
    const zip = await collect(z.stream);
    expect(zip.length).toBe(z.size);
    const got = await unzip(zip);
    expect([...got.keys()]).toEqual(entries.map((e) => e.name));
    for (const e of entries) expect(got.get(e.name)!.equals(files.get(e.blobKey)!)).toBe(true);
    expect(zip.length).toBeGreaterThan(3_100_000); // stored, not deflated (random bytes would not shrink anyway)
    expect(outcome).toBe("complete");
  });

  it("opens one file at a time and closes the open one when the consumer cancels", async () => {
    const opened: PassThrough[] = [];
    const big = (_key: string) => {
      const p = new PassThrough();
      opened.push(p);
      p.write(randomBytes(64 * 1024)); // more follows "later": the file stays open
      return p;
    };
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `f${i}.dcm`, blobKey: `k${i}`, size: 10_000_000 }));
    let outcome = "";
    const z = zipDownload(entries, big, { onFinish: (o) => (outcome = o.status) });
    const reader = z.stream.getReader();
    let got = 0;
    while (got < 32 * 1024) got += (await reader.read()).value!.length;
    expect(opened.length).toBe(1);
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 20));
    expect(opened[0]!.destroyed).toBe(true);
    expect(opened.length).toBe(1);
    expect(outcome).toBe("cancelled");
  });

  it("fails the stream (no silent corrupt zip) when a stored file is missing or shorter than indexed", async () => {
    const missing = zipDownload([{ name: "a.dcm", blobKey: "nope", size: 5 }], () => {
      const r = new Readable({ read() {} });
      setImmediate(() => r.destroy(Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" })));
      return r;
    });
    await expect(collect(missing.stream)).rejects.toThrow(/could not be read/);
    const short = zipDownload([{ name: "a.dcm", blobKey: "k1", size: 100_001 }], open);
    await expect(collect(short.stream)).rejects.toThrow(/unexpected number of bytes/);
  });
});

describe("browse helpers", () => {
  it("formats sizes and dates for people", () => {
    expect(humanBytes(0)).toBe("0 B");
    expect(humanBytes(1536)).toBe("1.5 KB");
    expect(humanBytes(12 * 1024 * 1024)).toBe("12 MB");
    expect(dicomDate("20240131")).toBe("2024-01-31");
    expect(dicomDate(null)).toBeNull();
  });
  it("says where a study lives, linking only http(s) XNAT URLs", () => {
    expect(studyLocation(true, { targetKind: "xnat", location: "https://x/data/experiments/E1" }, null).where).toBe("local");
    const x = studyLocation(false, { targetKind: "xnat", location: "https://xnat.example.org/data/experiments/XNAT_E1" }, { url: "https://xnat.example.org", project: "BRAIN" });
    expect(x).toEqual({ where: "xnat", href: "https://xnat.example.org/data/experiments/XNAT_E1", label: "XNAT xnat.example.org · BRAIN" });
    expect(studyLocation(false, { targetKind: "xnat", location: "javascript:alert(1)" }, null).href).toBeNull();
  });
  it("escapes LIKE wildcards and builds the thumbnail URL", () => {
    expect(containsPattern("a%b_c")).toBe("%a\\%b\\_c%");
    expect(thumbnailUrl("P1", "1.2", "1.3")).toBe("/dicomweb/projects/P1/studies/1.2/series/1.3/thumbnail");
  });
});
