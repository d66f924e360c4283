// Which addresses Atrium may connect to for URLs that project owners set (XNAT targets, webhook
// nodes): public unicast addresses, and anything a site admin lists in ATRIUM_OUTBOUND_ALLOW.
// Refused otherwise: loopback, private (RFC 1918, IPv6 ULA, site-local), link-local, CGNAT,
// cloud metadata, unspecified, multicast, broadcast and reserved ranges, also when spelled as
// IPv4-mapped, IPv4-compatible, NAT64, 6to4 or Teredo IPv6 addresses (issue #17 §3).
// Pure: the connection-time check (lib/outbound/fetch.ts) applies it to the address actually
// connected to.

export type AddressCategory =
  | "public"
  | "loopback"
  | "private"
  | "link-local"
  | "cgnat"
  | "metadata"
  | "unspecified"
  | "multicast"
  | "reserved";

const DESCRIPTION: Record<Exclude<AddressCategory, "public">, string> = {
  loopback: "a loopback address (this machine)",
  private: "a private-network address",
  "link-local": "a link-local address",
  cgnat: "a carrier-grade NAT (shared) address",
  metadata: "a cloud metadata service address",
  unspecified: "the unspecified address (this machine)",
  multicast: "a multicast or broadcast address",
  reserved: "a reserved address",
};

export interface Ip {
  version: 4 | 6;
  /** 4 or 16 bytes. */
  bytes: Uint8Array;
}

/** Parses a strict dotted-quad IPv4 address. */
function parseIpv4(s: string): Uint8Array | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

function parseIpv6(input: string): Uint8Array | null {
  let s = input;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (!s || /[^0-9a-fA-F:.]/.test(s)) return null;
  let tail: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".")) {
    tail = parseIpv4(s.slice(lastColon + 1));
    if (!tail) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const all = [...head, ...Array<string>(8 - total).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = all[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** An IP address (IPv4 dotted quad, IPv6 with or without brackets or zone), or null for a name. */
export function parseIp(text: string): Ip | null {
  const s = text.trim().replace(/^\[(.*)\]$/, "$1");
  const v4 = parseIpv4(s);
  if (v4) return { version: 4, bytes: v4 };
  const v6 = s.includes(":") ? parseIpv6(s) : null;
  return v6 ? { version: 6, bytes: v6 } : null;
}

function prefixMatch(bytes: Uint8Array, prefix: readonly number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const mask = 0x80 >> (i & 7);
    if ((bytes[byte]! & mask) !== ((prefix[byte] ?? 0) & mask)) return false;
  }
  return true;
}

/** The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4, Teredo), if any. */
export function embeddedIpv4(ip: Ip): Uint8Array | null {
  if (ip.version === 4) return null;
  const b = ip.bytes;
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible; not :: and ::1), ::ffff:0:a.b.c.d (translated)
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return b.slice(12);
  if (zeros(0, 12) && !(zeros(12, 15) && (b[15] === 0 || b[15] === 1))) return b.slice(12);
  if (zeros(0, 8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) return b.slice(12);
  // 64:ff9b::/96 (NAT64 well-known prefix) and 64:ff9b:1::/48 (local-use NAT64)
  if (prefixMatch(b, [0x00, 0x64, 0xff, 0x9b], 32) && zeros(4, 12)) return b.slice(12);
  if (prefixMatch(b, [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48)) return b.slice(12);
  // 2002::/16 (6to4): the IPv4 address in bits 16–47
  if (b[0] === 0x20 && b[1] === 0x02) return b.slice(2, 6);
  // 2001::/32 (Teredo): the client's IPv4 address, inverted, in the last 32 bits
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) return b.slice(12).map((x) => ~x & 0xff);
  return null;
}

type Range = { prefix: number[]; bits: number; category: Exclude<AddressCategory, "public"> };

const V4: Range[] = [
  { prefix: [169, 254, 169, 254], bits: 32, category: "metadata" }, // AWS, GCP, Azure, OpenStack…
  { prefix: [169, 254, 170, 2], bits: 32, category: "metadata" }, // AWS ECS task metadata
  { prefix: [168, 63, 129, 16], bits: 32, category: "metadata" }, // Azure WireServer
  { prefix: [100, 100, 100, 200], bits: 32, category: "metadata" }, // Alibaba Cloud
  { prefix: [0], bits: 8, category: "unspecified" },
  { prefix: [10], bits: 8, category: "private" },
  { prefix: [100, 64], bits: 10, category: "cgnat" },
  { prefix: [127], bits: 8, category: "loopback" },
  { prefix: [169, 254], bits: 16, category: "link-local" },
  { prefix: [172, 16], bits: 12, category: "private" },
  { prefix: [192, 0, 0], bits: 24, category: "reserved" }, // IETF protocol assignments
  { prefix: [192, 0, 2], bits: 24, category: "reserved" }, // documentation
  { prefix: [192, 88, 99], bits: 24, category: "reserved" }, // 6to4 relay anycast
  { prefix: [192, 168], bits: 16, category: "private" },
  { prefix: [198, 18], bits: 15, category: "reserved" }, // benchmarking
  { prefix: [198, 51, 100], bits: 24, category: "reserved" },
  { prefix: [203, 0, 113], bits: 24, category: "reserved" },
  { prefix: [224], bits: 4, category: "multicast" },
  { prefix: [240], bits: 4, category: "reserved" }, // includes 255.255.255.255
];

const V6: Range[] = [
  { prefix: [0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54], bits: 128, category: "metadata" }, // AWS IMDS over IPv6
  { prefix: [], bits: 128, category: "unspecified" }, // ::
  { prefix: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], bits: 128, category: "loopback" }, // ::1
  { prefix: [0x01, 0x00], bits: 64, category: "reserved" }, // discard-only 100::/64
  { prefix: [0x20, 0x01, 0x0d, 0xb8], bits: 32, category: "reserved" }, // documentation
  { prefix: [0x20, 0x01, 0x00, 0x10], bits: 28, category: "reserved" }, // ORCHID
  { prefix: [0xfc], bits: 7, category: "private" }, // unique local (ULA)
  { prefix: [0xfe, 0x80], bits: 10, category: "link-local" },
  { prefix: [0xfe, 0xc0], bits: 10, category: "private" }, // site-local (deprecated)
  { prefix: [0xff], bits: 8, category: "multicast" },
];

/** The category of an address (public when no special range holds it). */
export function classifyIp(ip: Ip): AddressCategory {
  if (ip.version === 4) return V4.find((r) => prefixMatch(ip.bytes, r.prefix, r.bits))?.category ?? "public";
  const special = V6.find((r) => prefixMatch(ip.bytes, r.prefix, r.bits));
  if (special) return special.category;
  const v4 = embeddedIpv4(ip);
  if (v4) return classifyIp({ version: 4, bytes: v4 });
  // Only global unicast (2000::/3) is public.
  return (ip.bytes[0]! & 0xe0) === 0x20 ? "public" : "reserved";
}

/** Category of an address given as text; "reserved" for text that is not an address. */
export function classifyAddress(text: string): AddressCategory {
  const ip = parseIp(text);
  return ip ? classifyIp(ip) : "reserved";
}

export function describeCategory(c: AddressCategory): string {
  return c === "public" ? "a public address" : DESCRIPTION[c];
}

// ---- the allow-list ----------------------------------------------------------------------------

export interface Network {
  ip: Ip;
  bits: number;
  text: string;
}

export interface OutboundPolicy {
  /** Host names allowed whatever they resolve to (lower case; ".example.org" allows every subdomain). */
  hosts: string[];
  /** Networks allowed (IPv4-mapped addresses match their IPv4 networks). */
  networks: Network[];
}

export class OutboundConfigError extends Error {
  override readonly name = "OutboundConfigError";
}

export const DENY_ALL_PRIVATE: OutboundPolicy = Object.freeze({ hosts: [], networks: [] }) as OutboundPolicy;

const HOSTNAME = /^\.?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Parses ATRIUM_OUTBOUND_ALLOW: comma-separated host names (`xnat.internal`, `.corp.example` for
 * every subdomain, `localhost`), addresses (`10.0.0.5`, `::1`) and networks (`10.20.0.0/16`,
 * `fd12:3456::/48`). Throws OutboundConfigError naming a bad entry.
 */
export function parseAllowList(text: string | undefined): OutboundPolicy {
  const policy: OutboundPolicy = { hosts: [], networks: [] };
  for (const raw of (text ?? "").split(",")) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const slash = entry.indexOf("/");
    const addr = parseIp(slash >= 0 ? entry.slice(0, slash) : entry);
    if (addr) {
      const max = addr.version === 4 ? 32 : 128;
      const bitsText = slash >= 0 ? entry.slice(slash + 1) : String(max);
      const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
      if (!(bits >= 0 && bits <= max)) throw new OutboundConfigError(`ATRIUM_OUTBOUND_ALLOW: "${raw.trim()}" has an invalid prefix length (0–${max}).`);
      policy.networks.push({ ip: addr, bits, text: entry });
      continue;
    }
    if (slash >= 0 || !HOSTNAME.test(entry.replace(/^\*\./, "."))) {
      throw new OutboundConfigError(`ATRIUM_OUTBOUND_ALLOW: "${raw.trim()}" is neither a host name, an IP address nor a network like 10.0.0.0/8.`);
    }
    policy.hosts.push(entry.replace(/^\*\./, "."));
  }
  return policy;
}

let cached: { text: string | undefined; policy: OutboundPolicy } | undefined;

/** The site's policy from ATRIUM_OUTBOUND_ALLOW, read at each call (cheap: parsed once per value). */
export function policyFromEnv(env: Record<string, string | undefined> = process.env): OutboundPolicy {
  const text = env.ATRIUM_OUTBOUND_ALLOW;
  if (!cached || cached.text !== text) cached = { text, policy: parseAllowList(text) };
  return cached.policy;
}

function inNetwork(ip: Ip, n: Network): boolean {
  if (ip.version === n.ip.version) return prefixMatch(ip.bytes, [...n.ip.bytes], n.bits);
  // An IPv4-mapped IPv6 address is the IPv4 address for an IPv4 network, and vice versa.
  if (ip.version === 6 && n.ip.version === 4) {
    const b = ip.bytes;
    const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
    return mapped && prefixMatch(b.slice(12), [...n.ip.bytes], n.bits);
  }
  return false;
}

function hostAllowed(host: string, policy: OutboundPolicy): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return policy.hosts.some((e) => (e.startsWith(".") ? h.endsWith(e) || h === e.slice(1) : h === e));
}

export type Decision = { ok: true; category: AddressCategory } | { ok: false; category: AddressCategory; reason: string };

/**
 * May Atrium connect to `address` for a URL whose host is `host`? Public addresses: yes. Others:
 * only when a listed network holds the address, or the host name is listed (a listed host name
 * does not open metadata addresses: those need their address or network listed).
 */
export function decide(policy: OutboundPolicy, host: string, address: string): Decision {
  const ip = parseIp(address);
  if (!ip) return { ok: false, category: "reserved", reason: `"${address}" is not an IP address` };
  const category = classifyIp(ip);
  if (category === "public") return { ok: true, category };
  if (policy.networks.some((n) => inNetwork(ip, n))) return { ok: true, category };
  if (category !== "metadata" && hostAllowed(host.replace(/^\[(.*)\]$/, "$1"), policy)) return { ok: true, category };
  const literal = parseIp(host) !== null;
  return {
    ok: false,
    category,
    reason: `Atrium does not connect to ${host}: ${literal ? "it is" : "it resolves to"} ${describeCategory(category)}. A site administrator can allow it by adding the host or its network to ATRIUM_OUTBOUND_ALLOW.`,
  };
}
