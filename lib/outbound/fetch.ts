// fetch() for URLs that project owners set, guarded at connection time (issue #17 §3): the host
// name is resolved by our own lookup, which refuses the connection when any address it resolves
// to is one the policy forbids; the address the socket actually connected to is checked again
// (so neither an IP literal nor DNS rebinding between a check and the connect gets through).
// Uses undici's own fetch and Agent (the `connect` hook is where the address is known).
import dns from "node:dns";
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from "node:dns";
import { Agent, buildConnector, fetch as undiciFetch } from "undici";
import { decide, OutboundConfigError, parseIp, policyFromEnv, type AddressCategory, type OutboundPolicy } from "./policy";

export class OutboundRefusedError extends Error {
  override readonly name = "OutboundRefusedError";
  constructor(
    readonly host: string,
    readonly category: AddressCategory,
    reason: string,
  ) {
    super(reason);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function guardedLookup(policy: OutboundPolicy) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback) => {
    dns.lookup(hostname, { family: options.family, hints: options.hints, all: true, verbatim: true }, (err, addresses) => {
      if (err) return callback(err, []);
      for (const a of addresses) {
        const d = decide(policy, hostname, a.address);
        if (!d.ok) return callback(new OutboundRefusedError(hostname, d.category, d.reason) as NodeJS.ErrnoException, []);
      }
      if (!addresses.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), []);
      if ((options as LookupAllOptions).all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

function guardedConnector(policy: OutboundPolicy): buildConnector.connector {
  const base = buildConnector({ lookup: guardedLookup(policy) as never, timeout: 15_000 });
  return (opts, callback) => {
    const host = opts.hostname.replace(/^\[(.*)\]$/, "$1");
    if (parseIp(host)) {
      const d = decide(policy, host, host);
      if (!d.ok) return callback(new OutboundRefusedError(host, d.category, d.reason), null);
    }
    base(opts, (err, socket) => {
      if (err || !socket) return callback(err ?? new Error("no socket"), null);
      const remote = socket.remoteAddress;
      const d = remote ? decide(policy, host, remote) : ({ ok: false, category: "reserved", reason: `Atrium could not tell which address ${host} connected to.` } as const);
      if (!d.ok) {
        socket.destroy();
        return callback(new OutboundRefusedError(host, d.category, d.reason), null);
      }
      callback(null, socket);
    });
  };
}

const agents = new WeakMap<OutboundPolicy, Agent>();

/** The guarded dispatcher of a policy (one connection pool per policy). */
export function outboundAgent(policy: OutboundPolicy): Agent {
  let a = agents.get(policy);
  if (!a) {
    a = new Agent({ connect: guardedConnector(policy) });
    agents.set(policy, a);
  }
  return a;
}

export type OutboundInit = Parameters<typeof undiciFetch>[1];
export type OutboundResponse = Awaited<ReturnType<typeof undiciFetch>>;

/**
 * fetch(url) through the guarded dispatcher of `policy` (default: the site's, from
 * ATRIUM_OUTBOUND_ALLOW). A refused address rejects with OutboundRefusedError itself (not
 * fetch's generic TypeError). Redirects are never followed automatically: pass redirect
 * "manual" or "error".
 */
export async function outboundFetch(url: URL, init: OutboundInit = {}, given?: OutboundPolicy): Promise<OutboundResponse> {
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new OutboundRefusedError(url.host, "reserved", `Atrium only connects to http(s) URLs, not ${url.protocol}.`);
  let policy: OutboundPolicy;
  try {
    policy = given ?? policyFromEnv();
  } catch (e) {
    if (e instanceof OutboundConfigError) throw new OutboundRefusedError(url.hostname, "reserved", `${e.message} No outbound connection is made until a site administrator corrects it.`);
    throw e;
  }
  try {
    return await undiciFetch(url, { redirect: "manual", ...init, dispatcher: outboundAgent(policy) });
  } catch (e) {
    let c: unknown = e;
    for (let i = 0; c && i < 5; i++) {
      if (c instanceof OutboundRefusedError) throw c;
      c = (c as { cause?: unknown }).cause;
    }
    throw e;
  }
}
