import { describe, expect, it } from "vitest";
import { devSignInEnabled, oidcConfigured, readEnv, siteAdminEmails } from "@/lib/config";
import { decideProjectAccess } from "@/lib/access";
import { wouldRemoveLastOwner } from "@/lib/projects";

describe("configuration", () => {
  it("names site admins case-insensitively, ignoring blanks", () => {
    expect([...siteAdminEmails(readEnv({ ATRIUM_ADMINS: " A@x.org, ,b@Y.org " }))]).toEqual(["a@x.org", "b@y.org"]);
  });

  it("offers the development sign-in only without OIDC and outside production", () => {
    const oidc = { ATRIUM_OIDC_ISSUER: "https://idp", ATRIUM_OIDC_CLIENT_ID: "c", ATRIUM_OIDC_CLIENT_SECRET: "s" };
    expect(devSignInEnabled(readEnv({ NODE_ENV: "development" }))).toBe(true);
    expect(devSignInEnabled(readEnv({ NODE_ENV: "production" }))).toBe(false);
    expect(devSignInEnabled(readEnv({ NODE_ENV: "development", ...oidc }))).toBe(false);
    expect(oidcConfigured(readEnv({ ...oidc, ATRIUM_OIDC_CLIENT_SECRET: "" }))).toBe(false);
    // Set by `atrium start` from how it was launched (Next.js itself always runs as production).
    expect(devSignInEnabled(readEnv({ NODE_ENV: "production", ATRIUM_DEV_SIGNIN: "1" }))).toBe(true);
    expect(devSignInEnabled(readEnv({ NODE_ENV: "development", ATRIUM_DEV_SIGNIN: "0" }))).toBe(false);
  });

  it("refuses an invalid setting with the variable named", () => {
    expect(() => readEnv({ PORT: "eighty" })).toThrow(/Invalid environment: PORT/);
  });
});

describe("access decisions", () => {
  const base = { signedIn: true, siteAdmin: false, exists: true, projectId: "P1", role: null } as const;

  it("hides private projects as not found, so their ids cannot be probed", () => {
    const hidden = decideProjectAccess({ ...base, accessibility: "private" }, "listed");
    const missing = decideProjectAccess({ ...base, accessibility: "public", exists: false }, "listed");
    expect(hidden).toEqual(missing);
    expect(hidden).toMatchObject({ ok: false, code: "NOT_FOUND" });
  });

  it("tells a caller which role they need", () => {
    expect(decideProjectAccess({ ...base, accessibility: "public" }, "member")).toMatchObject({
      ok: false,
      code: "FORBIDDEN",
      message: expect.stringMatching(/need to be a member of project "P1" to write/),
    });
  });
});

describe("last owner rule", () => {
  const m = (userId: string, role: "owner" | "member") => ({ userId, role });
  it("spots removing or demoting the only owner, and nothing else", () => {
    expect(wouldRemoveLastOwner([m("a", "owner"), m("b", "member")], "a", null)).toBe(true);
    expect(wouldRemoveLastOwner([m("a", "owner"), m("b", "member")], "a", "member")).toBe(true);
    expect(wouldRemoveLastOwner([m("a", "owner"), m("b", "owner")], "a", null)).toBe(false);
    expect(wouldRemoveLastOwner([m("a", "owner"), m("b", "member")], "b", null)).toBe(false);
    expect(wouldRemoveLastOwner([m("a", "owner")], "a", "owner")).toBe(false);
  });
});
