// The directory blob store: atomic durable puts with size and SHA-256, streamed and ranged gets,
// stat, delete, prefix listing, and keys that cannot escape the root.
import { afterAll, describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { BlobKeyError, BlobNotFoundError, createDirBlobStore, type BlobStat } from "@/lib/blob";

const root = mkdtempSync(path.join(os.tmpdir(), "atrium-blob-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const store = createDirBlobStore({ root });
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}
async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("directory blob store", () => {
  it("puts a buffer and a stream, reporting size and SHA-256, and reads them back", async () => {
    const a = randomBytes(100_000);
    const r1 = await store.put("P1/1.2/3.4/5.6.dcm", a);
    expect(r1).toEqual({ key: "P1/1.2/3.4/5.6.dcm", size: a.length, sha256: sha(a) });
    const b = randomBytes(3 * 1024 * 1024 + 7);
    const chunks = [b.subarray(0, 1000), b.subarray(1000, 2_000_000), b.subarray(2_000_000)];
    const r2 = await store.put("P1/1.2/3.4/5.7.dcm", Readable.from(chunks));
    expect(r2.size).toBe(b.length);
    expect(r2.sha256).toBe(sha(b));
    expect((await collect(await store.get("P1/1.2/3.4/5.7.dcm"))).equals(b)).toBe(true);
    expect((await store.read("P1/1.2/3.4/5.6.dcm")).equals(a)).toBe(true);
    expect(existsSync(path.join(root, "P1", "1.2", "3.4", "5.6.dcm"))).toBe(true);
  });

  it("copies a file with putFile", async () => {
    const src = path.join(root, "..", `src-${process.pid}.bin`);
    const bytes = randomBytes(2_500_000);
    writeFileSync(src, bytes);
    const r = await store.putFile("P1/file.bin", src);
    rmSync(src);
    expect(r.sha256).toBe(sha(bytes));
    expect((await store.read("P1/file.bin")).equals(bytes)).toBe(true);
  });

  it("serves byte ranges (inclusive, as HTTP and S3 do)", async () => {
    const bytes = Buffer.from("0123456789abcdef");
    await store.put("R/range.bin", bytes);
    expect((await collect(await store.get("R/range.bin", { start: 2, end: 5 }))).toString()).toBe("2345");
    expect((await store.read("R/range.bin", { start: 10, end: 15 })).toString()).toBe("abcdef");
    expect((await store.read("R/range.bin", { start: 3, end: 2 })).length).toBe(0);
  });

  it("stats and deletes; a missing blob is null for stat and BlobNotFoundError for get", async () => {
    await store.put("D/x/y.bin", Buffer.from("hello"));
    const s = await store.stat("D/x/y.bin");
    expect(s?.size).toBe(5);
    expect(s?.modifiedAt).toBeInstanceOf(Date);
    expect(await store.delete("D/x/y.bin")).toBe(true);
    expect(await store.delete("D/x/y.bin")).toBe(false);
    expect(await store.stat("D/x/y.bin")).toBeNull();
    await expect(store.get("D/x/y.bin")).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.read("D/x/y.bin")).rejects.toBeInstanceOf(BlobNotFoundError);
    // emptied directories are removed
    expect(existsSync(path.join(root, "D"))).toBe(false);
  });

  it("replaces a blob atomically: concurrent puts leave exactly one complete version, no temporary files", async () => {
    const versions = Array.from({ length: 8 }, () => randomBytes(512 * 1024));
    await Promise.all(versions.map((v) => store.put("A/same.bin", Readable.from([v.subarray(0, 1000), v.subarray(1000)]))));
    const got = await store.read("A/same.bin");
    expect(versions.some((v) => v.equals(got))).toBe(true);
    expect(readdirSync(path.join(root, ".tmp"))).toEqual([]);
  });

  it("a failing source stores nothing and leaves no temporary file", async () => {
    async function* failing() {
      yield Buffer.alloc(1000, 1);
      throw new Error("sender went away");
    }
    await expect(store.put("F/failed.bin", failing())).rejects.toThrow("sender went away");
    expect(await store.stat("F/failed.bin")).toBeNull();
    expect(readdirSync(path.join(root, ".tmp"))).toEqual([]);
  });

  it("a new store removes temporary files that interrupted puts left over an hour ago, and keeps recent ones", async () => {
    const r = path.join(root, "stale");
    mkdirSync(path.join(r, ".tmp"), { recursive: true });
    writeFileSync(path.join(r, ".tmp", "old"), "x");
    writeFileSync(path.join(r, ".tmp", "recent"), "x");
    const old = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(path.join(r, ".tmp", "old"), old, old);
    await createDirBlobStore({ root: r }).put("k", Buffer.from("v"));
    for (let i = 0; i < 50 && existsSync(path.join(r, ".tmp", "old")); i++) await new Promise((res) => setTimeout(res, 20));
    expect(readdirSync(path.join(r, ".tmp"))).toEqual(["recent"]);
  });

  it("lists by prefix in key order, including partial segments, never temporary files", async () => {
    const s2 = createDirBlobStore({ root: path.join(root, "list") });
    for (const k of ["P/1.2/a.dcm", "P/1.2/b.dcm", "P/1.3/c.dcm", "P/1.25/d.dcm", "Q/e.dcm"]) await s2.put(k, Buffer.from(k));
    const keys = async (p: string) => (await all(s2.list(p))).map((s: BlobStat) => s.key);
    expect(await keys("")).toEqual(["P/1.2/a.dcm", "P/1.2/b.dcm", "P/1.25/d.dcm", "P/1.3/c.dcm", "Q/e.dcm"]);
    expect(await keys("P/1.2/")).toEqual(["P/1.2/a.dcm", "P/1.2/b.dcm"]);
    expect(await keys("P/1.2")).toEqual(["P/1.2/a.dcm", "P/1.2/b.dcm", "P/1.25/d.dcm"]);
    expect(await keys("Z")).toEqual([]);
    const sizes = (await all(s2.list("Q/"))).map((s) => s.size);
    expect(sizes).toEqual([7]);
  });

  it("refuses keys that could leave the root or are malformed, with a message that says what a key is", async () => {
    for (const bad of ["", "/abs", "../x", "a/../b", "a//b", ".tmp/x", "a/.hidden", "a b", "a\\b", "x".repeat(1025)]) {
      await expect(store.put(bad, Buffer.from("x")), bad).rejects.toBeInstanceOf(BlobKeyError);
      await expect(store.stat(bad)).rejects.toBeInstanceOf(BlobKeyError);
    }
    expect(() => store.list("../")).toThrow(/segments of letters/);
  });
});
