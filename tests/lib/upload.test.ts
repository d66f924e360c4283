// The browser upload's shared decisions: which bodies the route takes, which zip entries and local
// files are passed over, and how a batch's instance statuses add up.
import { describe, expect, it } from "vitest";
import { contentTypeForFile, countBatch, isIgnoredLocalFile, isIgnoredZipEntry, reasonsOf, uploadKindOf } from "@/lib/intake/upload";

describe("upload bodies", () => {
  it("takes DICOM files and zip archives, by media type, and nothing else", () => {
    expect(uploadKindOf("application/dicom")).toBe("file");
    expect(uploadKindOf("Application/DICOM; transfer-syntax=1.2.840.10008.1.2.1")).toBe("file");
    expect(uploadKindOf("application/octet-stream")).toBe("file");
    expect(uploadKindOf("application/zip")).toBe("zip");
    expect(uploadKindOf("application/x-zip-compressed")).toBe("zip");
    expect(uploadKindOf("multipart/form-data; boundary=x")).toBeNull();
    expect(uploadKindOf("text/plain")).toBeNull();
    expect(uploadKindOf(null)).toBeNull();
  });

  it("sends .zip files as zip archives and everything else as DICOM", () => {
    expect(contentTypeForFile("study.ZIP", "")).toBe("application/zip");
    expect(contentTypeForFile("archive", "application/x-zip-compressed")).toBe("application/zip");
    expect(contentTypeForFile("IM0001", "")).toBe("application/dicom");
    expect(contentTypeForFile("scan.dcm", "application/dicom")).toBe("application/dicom");
  });

  it("passes over folders and operating-system litter, not ordinary files", () => {
    for (const name of ["study/", "a\\b\\", "__MACOSX/study/._IM1", "study/.DS_Store", "._IM1", "x/Thumbs.db", "desktop.ini"]) expect(isIgnoredZipEntry(name), name).toBe(true);
    for (const name of ["study/IM1", "IM1.dcm", "DICOM/S1/I1", "README.txt", ".hidden.dcm"]) expect(isIgnoredZipEntry(name), name).toBe(false);
    expect(isIgnoredLocalFile("folder/.DS_Store")).toBe(true);
  });
});

describe("a batch's live outcome", () => {
  it("counts statuses and is done when nothing waits for de-identification", () => {
    const c = countBatch([{ status: "received" }, { status: "deidentified" }, { status: "duplicate" }, { status: "quarantined" }, { status: "review" }]);
    expect(c).toEqual({ processing: 1, deidentified: 1, duplicate: 1, quarantined: 1, skipped: 0, review: 1, total: 5, done: false });
    // An instance held for a pixel review is done with de-identification.
    expect(countBatch([{ status: "review" }]).done).toBe(true);
    expect(countBatch([{ status: "deidentified" }]).done).toBe(true);
    expect(countBatch([])).toMatchObject({ total: 0, done: true });
  });

  it("lists quarantine reasons most frequent first", () => {
    const r = reasonsOf([
      { id: "1", status: "quarantined", reason: "b" },
      { id: "2", status: "quarantined", reason: "a" },
      { id: "3", status: "quarantined", reason: "a" },
      { id: "4", status: "deidentified", reason: null },
    ]);
    expect(r).toEqual([{ reason: "a", count: 2 }, { reason: "b", count: 1 }]);
  });
});

describe("an upload session's summary", () => {
  it("brings the route's results up to date with the live statuses, and counts failed requests", async () => {
    const { tallyUpload } = await import("@/lib/intake/upload");
    const res = (name: string, outcome: "accepted" | "quarantined" | "skipped" | "failed", instanceId: string | null, reason: string | null = null) => ({ name, outcome, instanceId, reason, sizeBytes: 1 });
    const t = tallyUpload(
      [
        res("a", "accepted", "i1"),
        res("b", "accepted", "i2"),
        res("c", "accepted", "i3"),
        res("d", "accepted", "i4"),
        res("e", "skipped", null, "not a DICOM file (no DICM)"),
        res("f", "failed", null, "larger than the limit"),
      ],
      new Map([
        ["i1", { status: "deidentified" as const, reason: null }],
        ["i2", { status: "duplicate" as const, reason: null }],
        ["i3", { status: "quarantined" as const, reason: "cannot de-identify: bad pixel data" }],
      ]),
      ["network error"],
    );
    expect(t).toMatchObject({ processing: 1, deidentified: 1, duplicate: 1, quarantined: 1, skipped: 1, failed: 2 });
    expect(t.reasons.map((r) => `${r.outcome}: ${r.reason}`).sort()).toEqual(
      ["failed: larger than the limit", "failed: network error", "quarantined: cannot de-identify: bad pixel data", "skipped: not a DICOM file (no DICM)"].sort(),
    );
  });
});

describe("the early DICOM check", () => {
  it("lets every shared sample through and stops text, zips and empty files", async () => {
    const { couldBeDicom, SNIFF_BYTES } = await import("@/lib/intake/upload");
    const { readdirSync, readFileSync } = await import("node:fs");
    const path = await import("node:path");
    const { SAMPLES_DIR } = await import("@/lib/samples");
    const samples = readdirSync(SAMPLES_DIR).filter((f) => f.endsWith(".dcm"));
    expect(samples.length).toBeGreaterThan(50);
    for (const f of samples) {
      const bytes = readFileSync(path.join(SAMPLES_DIR, f));
      expect(couldBeDicom(bytes.subarray(0, SNIFF_BYTES), bytes.length <= SNIFF_BYTES), f).toBe(true);
    }
    expect(couldBeDicom(Buffer.from("x".repeat(200)), false)).toBe(false);
    expect(couldBeDicom(Buffer.from("PK\x03\x04".padEnd(200, "\0")), false)).toBe(false);
    expect(couldBeDicom(Buffer.alloc(0), true)).toBe(false);
    expect(couldBeDicom(Buffer.from("short"), true)).toBe(false);
    expect(couldBeDicom(Buffer.from("short"), false)).toBe(true);
  });
});
