// Pure parts of API tokens and the STOW-RS response: token format and hash, bearer parsing, the
// token access decision, the PS3.18 status for each mix of outcomes, Accept negotiation and XML.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { bearerToken, createTokenInput, decideTokenAccess, generateToken, hashToken, TOKEN_PATTERN, tokenUnusableReason } from "@/lib/tokens";
import { FAILURE, failureSummary, stowResponseJson, stowResponseXml, stowStatus, wantsXml, type StowOutcome } from "@/lib/dicomweb/stow-response";

describe("API tokens", () => {
  it("are atr_ + 32 random bytes in base64url, stored as their SHA-256, shown by a 12-character prefix", () => {
    const a = generateToken();
    const b = generateToken();
    expect(a.token).toMatch(TOKEN_PATTERN);
    expect(a.token).not.toBe(b.token);
    expect(Buffer.from(a.token.slice(4), "base64url")).toHaveLength(32);
    expect(a.tokenHash).toBe(createHash("sha256").update(a.token).digest("hex"));
    expect(hashToken(a.token)).toBe(a.tokenHash);
    expect(a.prefix).toBe(a.token.slice(0, 12));
  });

  it("are read from an Authorization: Bearer header only", () => {
    expect(bearerToken("Bearer atr_x")).toBe("atr_x");
    expect(bearerToken("bearer   atr_x ")).toBe("atr_x");
    expect(bearerToken("Basic dXNlcjpw")).toBeNull();
    expect(bearerToken("Bearer")).toBeNull();
    expect(bearerToken(null)).toBeNull();
  });

  it("act only in their project, with their scope, at the level the scope gives", () => {
    const t = { projectId: "P1", scopes: ["stow"] };
    expect(decideTokenAccess(t, "P1", "member", "stow")).toEqual({ ok: true, level: "member" });
    expect(decideTokenAccess(t, "P1", "collaborator", "stow")).toEqual({ ok: true, level: "member" });
    expect(decideTokenAccess(t, "P2", "member", "stow")).toMatchObject({ ok: false, status: 403, message: expect.stringMatching(/another project/) });
    expect(decideTokenAccess(t, "P1", "collaborator", "read")).toMatchObject({ ok: false, message: expect.stringMatching(/lacks the "read" scope/) });
    const r = { projectId: "P1", scopes: ["read"] };
    expect(decideTokenAccess(r, "P1", "collaborator", "read")).toEqual({ ok: true, level: "collaborator" });
    expect(decideTokenAccess(r, "P1", "member", "read")).toMatchObject({ ok: false, message: expect.stringMatching(/needs member access/) });
    expect(decideTokenAccess({ projectId: "P1", scopes: ["stow", "read"] }, "P1", "owner", "stow")).toMatchObject({ ok: false });
  });

  it("stop working when revoked or expired, and say so", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(tokenUnusableReason({ revokedAt: null, expiresAt: null }, now)).toBeNull();
    expect(tokenUnusableReason({ revokedAt: null, expiresAt: new Date("2026-01-02T00:00:00Z") }, now)).toBeNull();
    expect(tokenUnusableReason({ revokedAt: new Date(0), expiresAt: null }, now)).toMatch(/revoked/);
    expect(tokenUnusableReason({ revokedAt: null, expiresAt: now }, now)).toMatch(/expired/);
  });

  it("are created with a name and at least one known scope", () => {
    expect(createTokenInput.parse({ projectId: "P1", name: " PACS ", scopes: ["stow", "read", "stow"] })).toEqual({ projectId: "P1", name: "PACS", scopes: ["read", "stow"] });
    expect(createTokenInput.safeParse({ projectId: "P1", name: "", scopes: ["stow"] }).success).toBe(false);
    expect(createTokenInput.safeParse({ projectId: "P1", name: "x", scopes: [] }).success).toBe(false);
    expect(createTokenInput.safeParse({ projectId: "P1", name: "x", scopes: ["admin"] }).success).toBe(false);
  });
});

describe("the STOW-RS response", () => {
  const ok = { sopClassUid: "1.2.3", sopInstanceUid: "1.2.3.4" };
  const bad = { sopClassUid: null, sopInstanceUid: null, failureReason: FAILURE.cannotUnderstand, explanation: "part 2 is not a DICOM file" };
  const big = { ...bad, failureReason: FAILURE.outOfResources, explanation: "part 1 is too large" };

  it("has the PS3.18 status for each mix of outcomes", () => {
    const cases: Array<[StowOutcome, number]> = [
      [{ stored: [ok], failed: [] }, 200],
      [{ stored: [ok], failed: [bad] }, 202],
      [{ stored: [ok], failed: [], malformed: "cut off" }, 202],
      [{ stored: [], failed: [bad] }, 409],
      [{ stored: [], failed: [bad, big] }, 409],
      [{ stored: [], failed: [big] }, 413],
      [{ stored: [], failed: [], malformed: "no boundary" }, 400],
      [{ stored: [], failed: [bad], malformed: "cut off" }, 400],
      [{ stored: [], failed: [] }, 400],
    ];
    for (const [o, status] of cases) expect(stowStatus(o), JSON.stringify(o)).toBe(status);
  });

  it("is DICOM JSON in tag order with empty Retrieve URLs and the failure explained", () => {
    const json = stowResponseJson({ stored: [ok], failed: [bad] });
    expect(Object.keys(json)).toEqual(["00081190", "00081198", "00081199", "00090010", "00091001"]);
    expect(json["00081198"]).toEqual({ vr: "SQ", Value: [{ "00081197": { vr: "US", Value: [0xc000] } }] });
    expect(json["00081199"]).toEqual({ vr: "SQ", Value: [{ "00081150": { vr: "UI", Value: ["1.2.3"] }, "00081155": { vr: "UI", Value: ["1.2.3.4"] }, "00081190": { vr: "UR" } }] });
    expect(json["00091001"]!.Value![0]).toBe("1 instance(s) not stored: part 2 is not a DICOM file");
    expect(Object.keys(stowResponseJson({ stored: [ok], failed: [] }))).toEqual(["00081190", "00081199"]);
    expect(failureSummary({ stored: [], failed: [{ ...bad, explanation: 'quote " and ünïcode' }] })).toBe("1 instance(s) not stored: quote ' and ?n?code");
  });

  it("is XML (Native DICOM Model) when Accept prefers application/dicom+xml", () => {
    expect(wantsXml("application/dicom+xml")).toBe(true);
    expect(wantsXml("application/dicom+json, application/dicom+xml")).toBe(false);
    expect(wantsXml("application/dicom+json;q=0.5, application/dicom+xml")).toBe(true);
    expect(wantsXml("*/*")).toBe(false);
    expect(wantsXml(undefined)).toBe(false);
    const xml = stowResponseXml({ stored: [ok], failed: [bad] });
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<NativeDicomModel xmlns="http:\/\/dicom.nema.org\/PS3.19\/models\/NativeDICOM">/);
    expect(xml).toContain('<DicomAttribute tag="00081190" vr="UR" keyword="RetrieveURL"/>');
    expect(xml).toContain('<DicomAttribute tag="00091001" vr="LT" privateCreator="ATRIUM">');
    expect(xml).toMatch(/<DicomAttribute tag="00081199" vr="SQ" keyword="ReferencedSOPSequence">\s*<Item number="1">\s*<DicomAttribute tag="00081150" vr="UI" keyword="ReferencedSOPClassUID">\s*<Value number="1">1.2.3<\/Value>/);
  });
});
