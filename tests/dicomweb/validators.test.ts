// lib/dicomweb/validators: the ETag of an answer cut from stored bytes, and If-None-Match matching.
import { describe, expect, it } from "vitest";
import { ifNoneMatchHits, storedBytesEtag } from "@/lib/dicomweb/validators";

const sha = "a".repeat(64);

describe("storedBytesEtag", () => {
  it("is a weak ETag that changes with the stored bytes, the part and the Accept, and only with them", () => {
    const e = storedBytesEtag(sha, "frames/1", "application/octet-stream");
    expect(e).toMatch(/^W\/"[A-Za-z0-9_-]{32}"$/);
    expect(storedBytesEtag(sha, "frames/1", "application/octet-stream")).toBe(e);
    expect(storedBytesEtag("b".repeat(64), "frames/1", "application/octet-stream")).not.toBe(e);
    expect(storedBytesEtag(sha, "frames/2", "application/octet-stream")).not.toBe(e);
    expect(storedBytesEtag(sha, "frames/1", "multipart/related")).not.toBe(e);
    expect(storedBytesEtag(sha, "frames/1", null)).not.toBe(e);
  });
});

describe("ifNoneMatchHits", () => {
  const e = storedBytesEtag(sha, "frames/1", null);
  const opaque = e.slice(2);
  it("matches the ETag weakly, in a list, or *", () => {
    expect(ifNoneMatchHits(e, e)).toBe(true);
    expect(ifNoneMatchHits(opaque, e)).toBe(true);
    expect(ifNoneMatchHits(`"x", ${e} , "y"`, e)).toBe(true);
    expect(ifNoneMatchHits("*", e)).toBe(true);
  });
  it("does not match another ETag, an empty or absent header", () => {
    expect(ifNoneMatchHits('W/"other"', e)).toBe(false);
    expect(ifNoneMatchHits("", e)).toBe(false);
    expect(ifNoneMatchHits(null, e)).toBe(false);
    expect(ifNoneMatchHits(opaque.slice(0, -2) + '"', e)).toBe(false);
  });
});
