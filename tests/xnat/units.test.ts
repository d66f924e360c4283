// Pure parts of lib/xnat: URI lists, URI classification, error text, backoff, the zip stream.
import { Readable } from "node:stream";
import yazl from "yazl";
import { describe, expect, test } from "vitest";
import { backoffDelay, dicomZipStream, sizeNotes, entryNames, extractServerMessage, manifestOf, parseUriList, parseXnatUri, redact, XnatError } from "@/lib/xnat";
import { entries, MR_STUDY, totalBytes } from "./helpers";
import { readZipLikeJava } from "./server";
import { readFileSync } from "node:fs";

async function collect(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of Readable.fromWeb(stream as never)) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

describe("uri lists", () => {
  test("CRLF-terminated lines, blank lines and comments", () => {
    const body = "/data/prearchive/projects/P/20220122_105154616/S1\r\n/data/archive/projects/P/subjects/XNAT_S00001/experiments/XNAT_E00001\r\n\r\n# comment\r\n";
    expect(parseUriList(body)).toEqual([
      "/data/prearchive/projects/P/20220122_105154616/S1",
      "/data/archive/projects/P/subjects/XNAT_S00001/experiments/XNAT_E00001",
    ]);
    expect(parseUriList("/data/experiments/XNAT_E1")).toEqual(["/data/experiments/XNAT_E1"]);
    expect(parseUriList("a\nb\n")).toEqual(["a", "b"]);
  });

  test("classifies archive, prearchive (with or without /data), experiment and direct-archive URIs", () => {
    expect(parseXnatUri("/data/archive/projects/P/subjects/S/experiments/E")).toMatchObject({ kind: "archive", project: "P", subject: "S", experiment: "E" });
    expect(parseXnatUri("http://x:8080/data/projects/P/subjects/S/experiments/E?format=json")).toMatchObject({ kind: "archive", experiment: "E" });
    expect(parseXnatUri("/REST/projects/P/subjects/S/experiments/E")).toMatchObject({ kind: "archive", uri: "/data/projects/P/subjects/S/experiments/E" });
    expect(parseXnatUri("/prearchive/projects/P/20220122_105154616/NAME001")).toEqual({
      kind: "prearchive",
      uri: "/data/prearchive/projects/P/20220122_105154616/NAME001",
      project: "P",
      timestamp: "20220122_105154616",
      folder: "NAME001",
    });
    expect(parseXnatUri("/data/experiments/XNAT_E00067")).toMatchObject({ kind: "experiment", experiment: "XNAT_E00067" });
    expect(parseXnatUri("/xapi/direct-archive/P1/1.2.3/S1")).toMatchObject({ kind: "direct-archive", project: "P1" });
    expect(parseXnatUri("/data/projects/P").kind).toBe("other");
  });
});

describe("errors", () => {
  test("Restlet status pages and Tomcat pages yield the description", () => {
    const restlet = `<html><head><title>Status page</title></head><body><p style="font-size: 1.2em">Bad Request</p><p>Importer is limited to one uploaded resource at a time.</p><p>You can get technical details <a href="x">here</a>.<br>Please continue</p></body></html>`;
    expect(extractServerMessage(restlet)).toBe("Importer is limited to one uploaded resource at a time.");
    expect(extractServerMessage("<html><body><h3>Login attempt failed. Please try again.</h3></body></html>")).toBe("Login attempt failed. Please try again.");
    expect(extractServerMessage("plain &amp; simple")).toBe("plain & simple");
    expect(extractServerMessage("")).toBeUndefined();
    expect(extractServerMessage("x".repeat(500))!.length).toBeLessThanOrEqual(301);
  });

  test("redact removes every secret and the message names the call", () => {
    expect(redact("user pw=hunter22 and hunter22", ["hunter22"])).toBe("user pw=[redacted] and [redacted]");
    const e = new XnatError({ kind: "http", method: "GET", path: "/data/projects/P", status: 503, attempts: 3, hint: "Retry later." });
    expect(e.message).toBe("XNAT GET /data/projects/P failed (503) after 3 attempts. Retry later.");
    expect(e.retryable).toBe(true);
    expect(new XnatError({ kind: "forbidden", method: "PUT", path: "/x", status: 403, hint: "h" }).retryable).toBe(false);
    expect(JSON.parse(JSON.stringify(e))).toMatchObject({ kind: "http", status: 503, path: "/data/projects/P" });
  });
});

describe("backoff", () => {
  test("doubles per attempt within [step/2, step], capped", () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(0, { ...policy, random: () => 0 })).toBe(50);
    expect(backoffDelay(0, { ...policy, random: () => 0.999999 })).toBe(100);
    expect(backoffDelay(2, { ...policy, random: () => 0 })).toBe(200);
    expect(backoffDelay(3, { ...policy, random: () => 0.5 })).toBe(600);
    expect(backoffDelay(10, { ...policy, random: () => 0.999999 })).toBe(1000);
    const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(1, { ...policy, random: Math.random })));
    expect(seen.size).toBeGreaterThan(5); // jitter spreads the delays
    for (const d of seen) expect(d >= 100 && d <= 200).toBe(true);
  });
});

describe("DICOM zip", () => {
  test("deflated, streamed entries are readable the way XNAT's ZipInputStream reads them", async () => {
    const files = entries(MR_STUDY);
    let progress = 0;
    const zip = await collect(dicomZipStream(files, { compressionLevel: 1, onProgress: (n) => (progress = n) }));
    expect(zip.readUInt16LE(8)).toBe(8); // deflated
    expect(zip.readUInt16LE(6) & 8).toBe(8); // with a data descriptor
    expect(progress).toBe(zip.length);
    const read = readZipLikeJava(zip);
    expect(read.map((e) => e.name)).toEqual(["000001.dcm", "000002.dcm", "000003.dcm", "000004.dcm", "000005.dcm", "000006.dcm"]);
    read.forEach((e, i) => expect(e.data.equals(readFileSync(files[i]!.path))).toBe(true));
    expect(manifestOf(files)).toEqual({ files: 6, bytes: totalBytes(MR_STUDY) });
  });

  test("the default stores entries with sizes in the local header (no data descriptor)", async () => {
    const files = entries(MR_STUDY.slice(0, 2));
    const zip = await collect(dicomZipStream([...files, { data: new Uint8Array([1, 2, 3]), name: "x/extra.bin" }]));
    expect(zip.readUInt16LE(6) & 8).toBe(0); // general purpose bit 3 unset
    expect(zip.readUInt16LE(8)).toBe(0); // stored
    const read = readZipLikeJava(zip);
    expect(read).toHaveLength(3);
    expect(read[2]).toMatchObject({ name: "x/extra.bin" });
    expect([...read[2]!.data]).toEqual([1, 2, 3]);
    expect(zip.length).toBeGreaterThan(files[0]!.size + files[1]!.size);
  });

  test("stored entries are fed as the consumer reads: a 1-byte window still yields the whole zip; cancelling stops", async () => {
    const files = entries(MR_STUDY);
    const zip = await collect(dicomZipStream(files, { maxBufferedBytes: 1 }));
    const read = readZipLikeJava(zip);
    expect(read.map((e) => e.data.length)).toEqual(files.map((f) => f.size));
    let progress = 0;
    const stream = dicomZipStream(files, { maxBufferedBytes: 1, onProgress: (n) => (progress = n) });
    const reader = stream.getReader();
    await reader.read();
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 50));
    expect(progress).toBeLessThan(totalBytes(MR_STUDY));
  });

  test("a stored entry with a data descriptor is what ZipInputStream refuses (why streamed entries deflate)", async () => {
    const z = new yazl.ZipFile();
    z.addReadStreamLazy("a.dcm", { compress: false }, (cb) => cb(null, Readable.from([Buffer.from("abc")])));
    z.end();
    const chunks: Buffer[] = [];
    for await (const c of z.outputStream as Readable) chunks.push(c as Buffer);
    expect(() => readZipLikeJava(Buffer.concat(chunks))).toThrow(/only DEFLATED entries can have EXT descriptor/);
  });

  test("entry names are checked", () => {
    expect(() => entryNames([{ data: new Uint8Array(1), name: "../evil.dcm" }])).toThrow(/relative path/);
    expect(() => entryNames([{ data: new Uint8Array(1), name: "a.dcm" }, { data: new Uint8Array(1), name: "a.dcm" }])).toThrow(/duplicate/);
    expect(() => dicomZipStream([], { compressionLevel: 12 })).toThrow(/0–9/);
  });
});

describe("size notes of a verification (sizes advisory, never the verdict)", () => {
  const scan = (uid: string, files: number, bytes: number) => ({ id: uid, uid, files, bytes, names: [] });
  test("nothing to say when the bytes match", () => {
    expect(sizeNotes({ files: 2, bytes: 100, scans: [{ uid: "1", files: 2, bytes: 100 }] }, [scan("1", 2, 100)], 100)).toEqual([]);
  });
  test("a few bytes more or less: XNAT re-encoded the headers", () => {
    expect(sizeNotes({ files: 2, bytes: 2000, scans: [{ uid: "1", files: 2, bytes: 2000, compressed: false }] }, [scan("1", 2, 1984)], 1984)).toEqual([
      "XNAT re-encodes DICOM headers on import: 1,984 bytes stored for 2,000 sent (not an error)",
    ]);
  });
  test("a compressed series much larger on XNAT is called decompressed; the native one beside it re-encoded", () => {
    const notes = sizeNotes(
      {
        files: 3,
        bytes: 3000,
        scans: [
          { uid: "rle", files: 1, bytes: 1000, compressed: true },
          { uid: "jpeg", files: 1, bytes: 1000, compressed: true },
          { uid: "native", files: 1, bytes: 1000, compressed: false },
        ],
      },
      [scan("rle", 1, 5000), scan("jpeg", 1, 1010), scan("native", 1, 1004)],
      7014,
    );
    expect(notes).toEqual([
      "this XNAT decompresses images on import: 1 of 2 series sent compressed is stored decompressed (5,000 bytes for 1,000 sent; not an error, but they take more space there)",
      "XNAT re-encodes DICOM headers on import: 2,014 bytes stored for 2,000 sent (not an error)",
    ]);
  });
  test("a native series that grew is not called decompressed", () => {
    expect(sizeNotes({ files: 1, bytes: 1000, scans: [{ uid: "1", files: 1, bytes: 1000, compressed: false }] }, [scan("1", 1, 4000)], 4000)).toEqual([
      "XNAT re-encodes DICOM headers on import: 4,000 bytes stored for 1,000 sent (not an error)",
    ]);
  });
  test("without transfer syntaxes, from the totals", () => {
    expect(sizeNotes({ files: 1, bytes: 1000 }, [scan("1", 1, 4000)], 4000)[0]).toMatch(/decompresses compressed images/);
    expect(sizeNotes({ files: 1, bytes: 1000 }, [scan("1", 1, 1004)], 1004)[0]).toMatch(/re-encodes DICOM headers/);
  });
});
