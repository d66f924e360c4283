// Issue #17 §3, the XNAT archive target: Atrium connects only to addresses its policy allows
// (loopback, private, link-local, metadata… refused unless the site's ATRIUM_OUTBOUND_ALLOW lists
// them, checked on the address actually connected to); "Test connection" and archive errors
// never carry XNAT's answer body; response bodies are read up to a cap; the URL is saved
// without query or fragment. The suite's other tests reach the XNAT test double on 127.0.0.1
// because vitest.config.ts allows loopback for the whole test run; here it is taken away.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { XnatArchiveDriver, testXnatConnection, type XnatArchiveTarget } from "@/lib/archive/xnat-driver";
import { setArchiveTargetInput } from "@/lib/archive/schema";
import { failureReason } from "@/lib/archive/state";
import { XnatClient, XnatError } from "@/lib/xnat";
import type { XnatTestServer } from "../xnat/server";
import { ALICE, MR_STUDY, fastRetry, startServer } from "../xnat/helpers";
import { studyOf } from "./helpers";

let server: XnatTestServer;
const client = { retry: fastRetry, timeoutMs: 5_000 };
const allowed = process.env.ATRIUM_OUTBOUND_ALLOW;

function target(url = server.url): XnatArchiveTarget {
  return { url, project: "P1", credentials: { username: ALICE.login, password: ALICE.password } };
}

/** A local HTTP service that answers every request with `status` and `body` (the kind an SSRF probes). */
async function localService(handler: http.RequestListener): Promise<{ url: string; paths: string[]; close: () => Promise<void> }> {
  const paths: string[] = [];
  const srv = http.createServer((req, res) => {
    paths.push(req.url ?? "");
    handler(req, res);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    paths,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

beforeAll(async () => {
  server = await startServer();
});
afterEach(() => {
  if (allowed === undefined) delete process.env.ATRIUM_OUTBOUND_ALLOW;
  else process.env.ATRIUM_OUTBOUND_ALLOW = allowed;
});
afterAll(async () => {
  await server?.close();
});

describe("the outbound address policy on the XNAT target", () => {
  it("the test run allows loopback in one place (vitest.config.ts), which is how the XNAT test double is reached", () => {
    expect(allowed?.split(",").map((s) => s.trim())).toEqual(expect.arrayContaining(["127.0.0.0/8", "::1"]));
  });

  it("refuses loopback without the allow-list: Test connection says why and the XNAT sees no request", async () => {
    process.env.ATRIUM_OUTBOUND_ALLOW = "";
    const before = server.requests.length;
    const report = await testXnatConnection(target(), client);
    expect(report.ok).toBe(false);
    expect(report.message).toMatch(/loopback/);
    expect(report.message).toMatch(/ATRIUM_OUTBOUND_ALLOW/);
    // The other spellings of this machine: a name that resolves to it, the IPv4-mapped form, 0.0.0.0.
    const port = new URL(server.url).port;
    for (const url of [`http://localhost:${port}`, `http://[::ffff:127.0.0.1]:${port}`, `http://0.0.0.0:${port}`, `http://2130706433:${port}`]) {
      const r = await testXnatConnection(target(url), client);
      expect(r.ok, url).toBe(false);
      expect(r.message, url).toMatch(/loopback|unspecified/);
    }
    await expect(new XnatArchiveDriver(target(), { client }).send(studyOf(MR_STUDY.slice(0, 1), "SUBJ-0100", "ssrf-1"))).rejects.toThrow(/loopback.*ATRIUM_OUTBOUND_ALLOW/);
    await expect(XnatClient.connect({ url: server.url, username: ALICE.login, password: ALICE.password, heartbeat: false, retry: fastRetry })).rejects.toMatchObject({ kind: "refused" });
    expect(server.requests.length).toBe(before);
  });

  it("connects once the host or its network is on the allow-list", async () => {
    process.env.ATRIUM_OUTBOUND_ALLOW = "127.0.0.1/32";
    expect((await testXnatConnection(target(), client)).ok).toBe(true);
    process.env.ATRIUM_OUTBOUND_ALLOW = "xnat.example.org, 127.0.0.1";
    expect((await testXnatConnection(target(), client)).ok).toBe(true);
  });
});

describe("what reaches the owner of the URL", () => {
  it("Test connection never echoes the answer's body, only the status and a sentence", async () => {
    const secret = "db_password=hunter2-Zx81";
    for (const status of [500, 403, 404, 400]) {
      const svc = await localService((_req, res) => {
        res.writeHead(status, { "content-type": "text/html" });
        res.end(`<html><head><title>${secret}</title></head><body><h3>${secret}</h3><p>${secret}</p></body></html>`);
      });
      try {
        const report = await testXnatConnection(target(svc.url), { ...client, retry: { retries: 0 } });
        expect(report.ok).toBe(false);
        expect(report.message, String(status)).not.toMatch(/db_password|hunter2/);
      } finally {
        await svc.close();
      }
    }
  });

  it("an archive attempt's error (shown to collaborators) carries no body either", () => {
    const err = new XnatError({ kind: "http", method: "POST", path: "/data/services/import", status: 500, serverMessage: "db_password=hunter2", hint: "XNAT had an internal error." });
    expect(failureReason(err)).not.toMatch(/hunter2/);
    expect(failureReason(err)).toMatch(/500/);
  });

  it("reads XNAT's answers up to a cap, not to the end of whatever the server sends", async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    const svc = await localService((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      let sent = 0;
      const more = () => {
        while (sent < 128 && res.write(chunk)) sent++;
        if (sent >= 128) res.end();
        else res.once("drain", more);
      };
      res.on("close", () => res.removeAllListeners("drain"));
      more();
    });
    try {
      const err = await XnatClient.connect({ url: svc.url, username: "a", password: "b", heartbeat: false, retry: { retries: 0 }, timeoutMs: 20_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(XnatError);
      expect((err as XnatError).kind).toBe("too-large");
      expect((err as XnatError).message).toMatch(/larger than/);
    } finally {
      await svc.close();
    }
  });
});

describe("the saved URL", () => {
  const input = (xnatUrl: string) => setArchiveTargetInput.safeParse({ projectId: "P1", kind: "xnat", xnatUrl, xnatProject: "P1", xnatUser: "alice" });
  it("refuses credentials, a query or a fragment (even an empty ? or #), with a clear message", () => {
    for (const [url, why] of [
      ["https://xnat.example.org/?", /query/],
      ["https://xnat.example.org/#", /fragment/],
      ["https://xnat.example.org/xnat#x", /fragment/],
      ["https://xnat.example.org/?a=b", /query/],
      ["https://u:p@xnat.example.org", /user or password/],
    ] as const) {
      const r = input(url);
      expect(r.success, url).toBe(false);
      expect(r.error?.issues.map((i) => i.message).join(" "), url).toMatch(why);
    }
    const ok = input("https://xnat.example.org/xnat/");
    expect(ok.success && ok.data.kind === "xnat" && ok.data.xnatUrl).toBe("https://xnat.example.org/xnat");
  });

  it("refuses a literal address the policy forbids when it is saved", () => {
    process.env.ATRIUM_OUTBOUND_ALLOW = "";
    for (const url of ["http://169.254.169.254", "http://[fd00:ec2::254]", "http://10.1.2.3:8080", "http://[::ffff:a9fe:a9fe]", "http://127.0.0.1:8080"]) {
      const r = input(url);
      expect(r.success, url).toBe(false);
      expect(r.error?.issues.map((i) => i.message).join(" "), url).toMatch(/ATRIUM_OUTBOUND_ALLOW/);
    }
  });
});
