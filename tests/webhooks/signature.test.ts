// The signature scheme, the body schema and the WADO-RS multipart extractor, in isolation.
import { createHmac } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { MAX_SKEW_SECONDS, signWebhook, verifyWebhookSignature, newWebhookSecret } from "@/lib/webhooks/signature";
import { createWebhookSourceInput, studyRef, webhookBody } from "@/lib/webhooks/schema";
import { firstPartBody, multipartBoundary, MultipartError } from "@/lib/webhooks/multipart";
import { curlExample, orthancLuaExample } from "@/lib/webhooks/examples";

const secret = "whsec_test";
const body = Buffer.from('{"study":"0a1b2c3d-0a1b2c3d-0a1b2c3d-0a1b2c3d-0a1b2c3d"}');
const now = 1_800_000_000;

describe("webhook signatures", () => {
  it("accepts what signWebhook produces, and the signature is HMAC-SHA256 over timestamp.body", () => {
    const h = signWebhook(secret, body, now);
    const expected = createHmac("sha256", secret).update(`${now}.${body.toString()}`).digest("hex");
    expect(h["X-Atrium-Signature"]).toBe(`sha256=${expected}`);
    const r = verifyWebhookSignature(secret, { timestamp: h["X-Atrium-Timestamp"], signature: h["X-Atrium-Signature"].toUpperCase().replace("SHA256=", "sha256=") }, body, now + 10);
    expect(r).toEqual({ ok: true, signature: expected, timestamp: now });
  });

  it("refuses missing headers, a wrong secret, a changed body, and stale or future timestamps, saying which", () => {
    const h = signWebhook(secret, body, now);
    const check = (over: Partial<{ timestamp: string | null; signature: string | null }>, b = body, at = now) =>
      verifyWebhookSignature(secret, { timestamp: h["X-Atrium-Timestamp"], signature: h["X-Atrium-Signature"], ...over }, b, at);
    expect(check({ signature: null })).toMatchObject({ ok: false, message: expect.stringMatching(/Missing X-Atrium-Timestamp or X-Atrium-Signature/) });
    expect(check({ timestamp: "yesterday" })).toMatchObject({ ok: false, message: expect.stringMatching(/unix time/) });
    expect(check({ signature: "deadbeef" })).toMatchObject({ ok: false, message: expect.stringMatching(/sha256=<64 hex digits>/) });
    expect(check({ signature: signWebhook("other", body, now)["X-Atrium-Signature"] })).toMatchObject({ ok: false, message: expect.stringMatching(/does not match/) });
    expect(check({}, Buffer.from(body.toString().replace("0a1b", "0a1c")))).toMatchObject({ ok: false, message: expect.stringMatching(/does not match/) });
    expect(check({}, body, now + MAX_SKEW_SECONDS)).toMatchObject({ ok: true });
    expect(check({}, body, now + MAX_SKEW_SECONDS + 1)).toMatchObject({ ok: false, message: expect.stringMatching(/301 s behind this server's clock/) });
    expect(check({}, body, now - 1000)).toMatchObject({ ok: false, message: expect.stringMatching(/1000 s ahead of this server's clock/) });
  });

  it("makes long random secrets", () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(newWebhookSecret()).not.toBe(a);
  });
});

describe("the webhook body", () => {
  it("names exactly one study, in the form the source's node kind needs", () => {
    const orthanc = webhookBody.parse({ study: "0a1b2c3d-0a1b2c3d-0a1b2c3d-0a1b2c3d-0a1b2c3d" });
    expect(studyRef("orthanc", orthanc)).toEqual({ ok: true, id: orthanc.study });
    expect(studyRef("dicomweb", orthanc)).toMatchObject({ ok: false, message: expect.stringMatching(/studyInstanceUid/) });
    const web = webhookBody.parse({ studyInstanceUid: "1.2.840.113619.2.1" });
    expect(studyRef("dicomweb", web)).toEqual({ ok: true, id: "1.2.840.113619.2.1" });
    for (const bad of [{}, { study: "x" }, { studyInstanceUid: "1.2.abc" }, { studyInstanceUid: "1." + "2".repeat(70) }, { study: orthanc.study, studyInstanceUid: "1.2" }, { study: orthanc.study, extra: 1 }, [], "study"]) {
      expect(webhookBody.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe("a new webhook source", () => {
  const base = { projectId: "P1", name: "PACS", nodeKind: "orthanc" as const, nodeUrl: "http://orthanc:8042/" };
  it("takes an http(s) node URL without credentials, and the credentials its auth needs", () => {
    expect(createWebhookSourceInput.parse(base)).toMatchObject({ nodeUrl: "http://orthanc:8042", nodeAuth: "none" });
    const problems = (v: object) => {
      const r = createWebhookSourceInput.safeParse({ ...base, ...v });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    };
    expect(problems({ name: " ", nodeUrl: "" })).toEqual([expect.stringMatching(/^name: Give the source a name/), expect.stringMatching(/^nodeUrl: Enter the node's http\(s\) URL/)]);
    expect(problems({ nodeUrl: "ftp://x" })).toEqual([expect.stringMatching(/^nodeUrl: Enter the node's http/)]);
    expect(problems({ nodeUrl: "http://u:p@orthanc" })).toEqual([expect.stringMatching(/^nodeUrl: Put no user or password/)]);
    expect(problems({ nodeAuth: "basic" })).toEqual([expect.stringMatching(/^nodeUser:/), expect.stringMatching(/^nodeSecret: Enter the node's password/)]);
    expect(problems({ nodeAuth: "bearer", nodeSecret: "t" })).toEqual([]);
  });
});

describe("the first part of a multipart/related answer", () => {
  const payload = Buffer.concat([Buffer.alloc(128), Buffer.from("DICM"), Buffer.from("\r\n--notthe boundary\r\n"), Buffer.alloc(5000, 7)]);
  const boundary = "b0undary-42";
  const wire = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
    payload,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);

  it("finds the boundary in the content type", () => {
    expect(multipartBoundary('multipart/related; type="application/dicom"; boundary=b0undary-42')).toBe(boundary);
    expect(multipartBoundary('multipart/related; boundary="quoted b"; type="application/dicom"')).toBe("quoted b");
    expect(multipartBoundary("application/dicom")).toBeNull();
  });

  for (const size of [1, 7, 64, 1000, wire.length]) {
    it(`extracts the body byte for byte from chunks of ${size} bytes`, async () => {
      const chunks: Buffer[] = [];
      for (let i = 0; i < wire.length; i += size) chunks.push(wire.subarray(i, i + size));
      const out: Buffer[] = [];
      for await (const c of Readable.from(chunks).pipe(firstPartBody(boundary))) out.push(c as Buffer);
      expect(Buffer.concat(out).equals(payload)).toBe(true);
    });
  }

  it("fails on a truncated answer", async () => {
    const cut = wire.subarray(0, wire.length - 20);
    await expect(async () => {
      for await (const _ of Readable.from([cut]).pipe(firstPartBody(boundary))) void _;
    }).rejects.toBeInstanceOf(MultipartError);
  });
});

describe("the senders shown to owners", () => {
  it("fill in the URL, the secret and the body form of the node kind", () => {
    const ex = { url: "https://atrium.example/api/webhooks/wh_1", secret: "whsec_x'y", nodeKind: "orthanc" as const };
    const curl = curlExample(ex);
    expect(curl).toContain(`SECRET='whsec_x'"'"'y'`);
    expect(curl).toContain("openssl dgst -sha256 -hmac");
    expect(orthancLuaExample(ex)).toContain(`local ATRIUM_URL = "https://atrium.example/api/webhooks/wh_1"`);
    expect(orthancLuaExample(ex)).toContain(`'{"study":"' .. studyId .. '"}'`);
    expect(orthancLuaExample({ ...ex, nodeKind: "dicomweb" })).toContain(`tags["StudyInstanceUID"]`);
  });
});
