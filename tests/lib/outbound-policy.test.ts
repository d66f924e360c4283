// Issue #17 §3: the outbound address policy (lib/outbound/policy.ts) over many spellings of the
// same addresses, the allow-list, request URLs built from parsed parts, and the capped body reader.
// Pure: nothing here opens a connection.
import { describe, expect, it } from "vitest";
import {
  BodyTooLargeError,
  classifyAddress,
  decide,
  OutboundConfigError,
  ownerUrlProblem,
  parseAllowList,
  parseIp,
  readBodyCapped,
  requestUrl,
  RequestPathError,
  type AddressCategory,
} from "@/lib/outbound";

/** The address a URL's host becomes after WHATWG parsing (how fetch sees it). */
const hostOf = (url: string) => new URL(url).hostname;

describe("classifying addresses", () => {
  const cases: [string, AddressCategory][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.32.0.1", "public"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "cgnat"],
    ["100.127.255.255", "cgnat"],
    ["100.128.0.1", "public"],
    ["169.254.169.254", "metadata"],
    ["169.254.170.2", "metadata"],
    ["100.100.100.200", "metadata"],
    ["168.63.129.16", "metadata"],
    ["169.254.1.1", "link-local"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["192.0.2.1", "reserved"],
    ["8.8.8.8", "public"],
    ["1.1.1.1", "public"],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["[::1]", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:169.254.169.254", "metadata"],
    ["::ffff:a9fe:a9fe", "metadata"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:8.8.8.8", "public"],
    ["::127.0.0.1", "loopback"], // IPv4-compatible
    ["::ffff:0:127.0.0.1", "loopback"], // IPv4-translated
    ["64:ff9b::a9fe:a9fe", "metadata"], // NAT64
    ["64:ff9b::7f00:1", "loopback"],
    ["64:ff9b:1::a00:1", "private"], // local-use NAT64
    ["2002:7f00:1::1", "loopback"], // 6to4
    ["2002:a9fe:a9fe::", "metadata"],
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"], // Teredo client 127.0.0.1 (inverted)
    ["fd00:ec2::254", "metadata"],
    ["fd00::1", "private"],
    ["fc00::1", "private"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["fec0::1", "private"],
    ["ff02::1", "multicast"],
    ["100::1", "reserved"],
    ["2001:db8::1", "reserved"],
    ["2606:4700:4700::1111", "public"],
    ["2a00:1450:4001::200e", "public"],
    ["not-an-address", "reserved"],
  ];
  for (const [addr, category] of cases) {
    it(`${addr} is ${category}`, () => expect(classifyAddress(addr)).toBe(category));
  }

  it("reads the spellings a URL turns into addresses (decimal, hex, short forms, brackets)", () => {
    expect(classifyAddress(hostOf("http://2130706433/"))).toBe("loopback");
    expect(classifyAddress(hostOf("http://0x7f.1/"))).toBe("loopback");
    expect(classifyAddress(hostOf("http://127.1/"))).toBe("loopback");
    expect(classifyAddress(hostOf("http://0/"))).toBe("unspecified");
    expect(classifyAddress(hostOf("http://0xa9.0xfe.0xa9.0xfe/"))).toBe("metadata");
    expect(classifyAddress(hostOf("http://[::ffff:169.254.169.254]/"))).toBe("metadata");
    expect(classifyAddress(hostOf("http://[0:0:0:0:0:ffff:7f00:0001]/"))).toBe("loopback");
  });

  it("parses only real addresses", () => {
    for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "::g", "example.org", ""]) expect(parseIp(bad), bad).toBeNull();
    expect(parseIp("1:2:3:4:5:6:7:8")?.version).toBe(6);
    expect(parseIp("::ffff:1.2.3.4")?.bytes).toEqual(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]));
  });
});

describe("deciding with the allow-list", () => {
  it("allows public addresses and refuses the others, saying what they are and how to allow them", () => {
    const none = parseAllowList("");
    expect(decide(none, "xnat.example.org", "93.184.216.34").ok).toBe(true);
    const d = decide(none, "xnat.example.org", "10.1.2.3");
    expect(d).toMatchObject({ ok: false, category: "private" });
    expect(!d.ok && d.reason).toMatch(/^Atrium does not connect to xnat\.example\.org: it resolves to a private-network address\. .*ATRIUM_OUTBOUND_ALLOW/);
    const lit = decide(none, "127.0.0.1", "127.0.0.1");
    expect(!lit.ok && lit.reason).toMatch(/127\.0\.0\.1: it is a loopback address/);
  });

  it("allows listed networks (IPv4-mapped addresses included) and listed host names", () => {
    const p = parseAllowList(" 10.20.0.0/16, fd12:3456::/32 ,xnat.internal, .corp.example, *.lab.example, 127.0.0.1");
    expect(decide(p, "a", "10.20.3.4").ok).toBe(true);
    expect(decide(p, "a", "::ffff:10.20.3.4").ok).toBe(true);
    expect(decide(p, "a", "10.21.3.4").ok).toBe(false);
    expect(decide(p, "a", "fd12:3456::1").ok).toBe(true);
    expect(decide(p, "a", "fd12:3457::1").ok).toBe(false);
    expect(decide(p, "XNAT.internal", "10.9.9.9").ok).toBe(true);
    expect(decide(p, "pacs.corp.example", "192.168.0.5").ok).toBe(true);
    expect(decide(p, "corp.example", "192.168.0.5").ok).toBe(true);
    expect(decide(p, "x.lab.example", "192.168.0.5").ok).toBe(true);
    expect(decide(p, "evilcorp.example", "192.168.0.5").ok).toBe(false);
    expect(decide(p, "127.0.0.1", "127.0.0.1").ok).toBe(true);
    expect(decide(p, "127.0.0.2", "127.0.0.2").ok).toBe(false);
  });

  it("a listed host name does not open metadata addresses; only their address or network does", () => {
    const byName = parseAllowList("xnat.internal");
    expect(decide(byName, "xnat.internal", "169.254.169.254")).toMatchObject({ ok: false, category: "metadata" });
    expect(decide(byName, "xnat.internal", "fd00:ec2::254")).toMatchObject({ ok: false, category: "metadata" });
    expect(decide(parseAllowList("169.254.169.254"), "x", "169.254.169.254").ok).toBe(true);
  });

  it("refuses a malformed allow-list entry with its text", () => {
    for (const bad of ["10.0.0.0/33", "::1/129", "10.0.0.0/x", "http://x", "a b", "host/8"]) {
      expect(() => parseAllowList(bad), bad).toThrow(OutboundConfigError);
    }
    expect(() => parseAllowList("ok.example, 10.0.0.0/33")).toThrow(/"10\.0\.0\.0\/33"/);
  });
});

describe("owner-set URLs", () => {
  const msgs = { invalid: "not http", credentials: "no credentials" };
  it("are refused with credentials, a query or a fragment (also empty), and with a literal refused address", () => {
    const none = parseAllowList("");
    expect(ownerUrlProblem("ftp://x", msgs, none)).toBe("not http");
    expect(ownerUrlProblem("http://u@x", msgs, none)).toBe("no credentials");
    expect(ownerUrlProblem("http://x/a?", msgs, none)).toMatch(/query/);
    expect(ownerUrlProblem("http://x/a#", msgs, none)).toMatch(/fragment/);
    expect(ownerUrlProblem("http://[::1]:8042/", msgs, none)).toMatch(/loopback/);
    expect(ownerUrlProblem("http://localhost:8042/", msgs, none)).toMatch(/loopback/);
    expect(ownerUrlProblem("http://0x7f000001/", msgs, none)).toMatch(/loopback/);
    expect(ownerUrlProblem("https://xnat.example.org/xnat", msgs, none)).toBeNull();
    expect(ownerUrlProblem("http://localhost:8042/", msgs, parseAllowList("localhost"))).toBeNull();
  });

  it("build request URLs from parsed parts: the base's query and fragment are dropped, ? and # in a path stay in the path, dot segments are refused", () => {
    expect(requestUrl("http://h:1/orthanc?", "/studies/x/instances").href).toBe("http://h:1/orthanc/studies/x/instances");
    expect(requestUrl("http://h:1/orthanc?a=b#c", "/studies/x").href).toBe("http://h:1/orthanc/studies/x");
    expect(requestUrl("http://h:1/", "/data/JSESSION").href).toBe("http://h:1/data/JSESSION");
    expect(requestUrl("http://h:1/x/", "/a?b#c").pathname).toBe("/x/a%3Fb%23c");
    expect(requestUrl("http://h:1/x", "/q", { a: "1 2", b: ["x", "y"], c: undefined }).search).toBe("?a=1%202&b=x&b=y");
    expect(() => requestUrl("http://h:1/x", "/a/../../admin")).toThrow(RequestPathError);
    expect(() => requestUrl("http://h:1/x", "/a/%2e%2e/admin")).toThrow(RequestPathError);
    expect(() => requestUrl("http://h:1/x", "admin")).toThrow(RequestPathError);
  });
});

describe("reading bodies up to a cap", () => {
  const response = (chunks: Uint8Array[], headers: Record<string, string> = {}) => new Response(new ReadableStream({ start(c) { for (const x of chunks) c.enqueue(x); c.close(); } }), { headers });
  it("returns a body within the cap and refuses one beyond it, by its Content-Length or as it streams", async () => {
    expect((await readBodyCapped(response([new Uint8Array(10), new Uint8Array(6)]), 16)).length).toBe(16);
    await expect(readBodyCapped(response([new Uint8Array(10), new Uint8Array(7)]), 16)).rejects.toThrow(BodyTooLargeError);
    await expect(readBodyCapped(new Response("x".repeat(100)), 16)).rejects.toThrow(/larger than 16 bytes/);
    let pulled = 0;
    const endless = new Response(new ReadableStream({ pull(c) { pulled++; c.enqueue(new Uint8Array(1024)); } }));
    await expect(readBodyCapped(endless, 64 * 1024)).rejects.toThrow(/larger than 64 KiB/);
    expect(pulled).toBeLessThan(100);
  });
});
