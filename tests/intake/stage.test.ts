import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { stageStream, NotDicomError, TooLargeError } from "@/server/intake/stage";
import { SAMPLES_DIR } from "@/lib/samples";

const sample = readdirSync(SAMPLES_DIR).filter((f) => f.endsWith(".dcm")).sort()[0]!;

describe("staging a byte stream", () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-stage-"));
  const stagingDir = path.join(dataDir, "staging", "upload");

  it("stores a DICOM stream durably with its size, hash and UIDs", async () => {
    const bytes = readFileSync(path.join(SAMPLES_DIR, sample));
    const staged = await stageStream(dataDir, "upload", Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]));
    expect(staged.sizeBytes).toBe(bytes.length);
    expect(staged.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(readFileSync(staged.path).equals(bytes)).toBe(true);
    expect(staged.transferSyntaxUid).toMatch(/^1\.2\.840\.10008\.1\.2/);
    const fromBuffer = await stageStream(dataDir, "upload", bytes);
    expect(fromBuffer.sha256).toBe(staged.sha256);
  });

  it("refuses non-DICOM and oversized bodies and leaves nothing behind", async () => {
    const before = readdirSync(stagingDir).length;
    await expect(stageStream(dataDir, "upload", Buffer.from("hello, not dicom"))).rejects.toBeInstanceOf(NotDicomError);
    await expect(stageStream(dataDir, "upload", Readable.from([Buffer.alloc(2048)]), { maxBytes: 1024 })).rejects.toBeInstanceOf(TooLargeError);
    await expect(stageStream(dataDir, "upload", Buffer.alloc(0))).rejects.toThrow(/empty/);
    expect(readdirSync(stagingDir).length).toBe(before);
    expect(readdirSync(stagingDir).some((f) => f.endsWith(".partial"))).toBe(false);
  });
});
