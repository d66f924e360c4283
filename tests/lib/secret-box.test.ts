import { describe, expect, it } from "vitest";
import { deriveKey, open, seal, SecretBoxError } from "@/lib/crypto/secret-box";
import { experimentLabel } from "@/lib/archive/driver";

describe("secret box", () => {
  const key = deriveKey("a-test-secret-of-enough-length");
  it("round-trips and never stores the plaintext", () => {
    const sealed = seal("hunter2-password", key);
    expect(sealed.startsWith("v1.")).toBe(true);
    expect(sealed).not.toContain("hunter2");
    expect(open(sealed, key)).toBe("hunter2-password");
    expect(seal("same", key)).not.toBe(seal("same", key));
  });
  it("refuses another key and tampered values with a readable error", () => {
    const sealed = seal("secret", key);
    expect(() => open(sealed, deriveKey("another-secret-of-enough-length"))).toThrow(/cannot be decrypted/);
    const parts = sealed.split(".");
    parts[3] = Buffer.from("tampered").toString("base64url");
    expect(() => open(parts.join("."), key)).toThrow(SecretBoxError);
    expect(() => open("plain", key)).toThrow(/known version/);
    expect(() => deriveKey("short")).toThrow(/16 characters/);
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
