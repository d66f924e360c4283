import { describe, expect, it } from "vitest";
import { createCipheriv, randomBytes } from "node:crypto";
import { deriveKey, isLegacySealed, open, seal, SecretBoxError } from "@/lib/crypto/secret-box";
import { experimentLabel } from "@/lib/archive/driver";

describe("secret box", () => {
  const key = deriveKey("a-test-secret-of-enough-length");
  it("round-trips and never stores the plaintext", () => {
    const sealed = seal("hunter2-password", key, "atrium:T:1:f");
    expect(sealed.startsWith("v2.")).toBe(true);
    expect(sealed).not.toContain("hunter2");
    expect(open(sealed, key, "atrium:T:1:f")).toBe("hunter2-password");
    expect(seal("same", key, "a")).not.toBe(seal("same", key, "a"));
  });
  it("refuses another key and tampered values with a readable error", () => {
    const sealed = seal("secret", key, "a");
    expect(() => open(sealed, deriveKey("another-secret-of-enough-length"), "a")).toThrow(/cannot be decrypted/);
    const parts = sealed.split(".");
    parts[3] = Buffer.from("tampered").toString("base64url");
    expect(() => open(parts.join("."), key, "a")).toThrow(SecretBoxError);
    expect(() => open("plain", key, "a")).toThrow(/known version/);
    expect(() => deriveKey("short")).toThrow(/16 characters/);
  });
  it("binds a sealed value to where it is stored: copied into another row or column it does not open", () => {
    const sealed = seal("xnat-password", key, "atrium:ProjectArchiveTarget:ALPHA:xnatSecretSealed");
    expect(() => open(sealed, key, "atrium:ProjectArchiveTarget:BETA:xnatSecretSealed")).toThrow(/copied from another record/);
    expect(() => open(sealed, key, "atrium:WebhookSource:ALPHA:nodeSecretSealed")).toThrow(SecretBoxError);
    expect(() => seal("x", key, "")).toThrow(/bound/);
  });
  it("still opens a value sealed before binding (v1, no AAD), and says it is one to re-seal", () => {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", key, iv);
    const body = Buffer.concat([c.update("old-secret", "utf8"), c.final()]);
    const v1 = ["v1", iv.toString("base64url"), c.getAuthTag().toString("base64url"), body.toString("base64url")].join(".");
    expect(isLegacySealed(v1)).toBe(true);
    expect(open(v1, key, "atrium:WebhookSource:wh_x:secretSealed")).toBe("old-secret");
    expect(isLegacySealed(seal("new", key, "a"))).toBe(false);
  });
});

describe("experiment labels", () => {
  it("are stable, XNAT-safe and carry no UID", () => {
    const a = experimentLabel("PRJ-0001", "2.25.1234");
    expect(a).toMatch(/^PRJ-0001_[0-9A-F]{8}$/);
    expect(experimentLabel("PRJ-0001", "2.25.1234")).toBe(a);
    expect(experimentLabel("PRJ-0001", "2.25.1235")).not.toBe(a);
    expect(experimentLabel("a b/c", "1")).toMatch(/^a_b_c_/);
  });
});
