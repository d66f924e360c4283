// The C-STORE SCP's bounds (issue 17 §4), against DCMTK and raw sockets: a per-instance size limit
// (answered with a failure status, nothing kept), per-address limits on associations and open
// connections, an idle timeout, and at the association limit an idle association gives way to a
// sender (idle associations cannot lock senders out).
import { readdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run, SAMPLES, startTestScp, storescuSuccesses, type TestScp } from "./helpers";
import { waitFor } from "../helpers/wait";

const SMALL = path.join(SAMPLES, "pydicom__CT_small.dcm"); // 39 KB
const LARGE = path.join(SAMPLES, "dicomParser__ctimage.dcm"); // 530 KB

function pdu(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(6);
  h[0] = type;
  h.writeUInt32BE(body.length, 2);
  return Buffer.concat([h, body]);
}
function item(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}
const ae = (s: string) => Buffer.from(s.padEnd(16, " "), "latin1");

/** A-ASSOCIATE-RQ proposing Verification in Implicit VR Little Endian. */
function associateRq(calledAe = "ATRIUM", callingAe = "RAWSCU"): Buffer {
  const maxLen = Buffer.alloc(4);
  maxLen.writeUInt32BE(16384);
  return pdu(
    0x01,
    Buffer.concat([
      Buffer.from([0x00, 0x01, 0x00, 0x00]),
      ae(calledAe),
      ae(callingAe),
      Buffer.alloc(32),
      item(0x10, Buffer.from("1.2.840.10008.3.1.1.1", "latin1")),
      item(0x20, Buffer.concat([Buffer.from([1, 0, 0, 0]), item(0x30, Buffer.from("1.2.840.10008.1.1", "latin1")), item(0x40, Buffer.from("1.2.840.10008.1.2", "latin1"))])),
      item(0x50, Buffer.concat([item(0x51, maxLen), item(0x52, Buffer.from("1.2.3.4", "latin1"))])),
    ]),
  );
}

interface RawPeer {
  socket: net.Socket;
  /** The first PDU type answered (0x02 accept, 0x03 reject, 0x07 abort), or null when closed without one. */
  answer: Promise<number | null>;
  /** [result, source, reason] of an A-ASSOCIATE-RJ. */
  reject: Promise<[number, number, number] | null>;
  closed: Promise<void>;
  pdus: number[];
}

/** A raw TCP peer from `localAddress` that, unless `silent`, requests an association and then says nothing more. */
function rawPeer(port: number, localAddress: string, opts: { silent?: boolean } = {}): RawPeer {
  const socket = net.connect({ port, host: "127.0.0.1", localAddress });
  const pdus: number[] = [];
  let buf = Buffer.alloc(0);
  let resolveAnswer!: (t: number | null) => void;
  let resolveReject!: (r: [number, number, number] | null) => void;
  const answer = new Promise<number | null>((r) => (resolveAnswer = r));
  const reject = new Promise<[number, number, number] | null>((r) => (resolveReject = r));
  socket.on("data", (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 6 && buf.length >= 6 + buf.readUInt32BE(2)) {
      const type = buf[0]!;
      const body = buf.subarray(6, 6 + buf.readUInt32BE(2));
      pdus.push(type);
      resolveAnswer(type);
      if (type === 0x03) resolveReject([body[1]!, body[2]!, body[3]!]);
      buf = buf.subarray(6 + body.length);
    }
  });
  socket.on("error", () => undefined);
  const closed = new Promise<void>((r) =>
    socket.on("close", () => {
      resolveAnswer(null);
      resolveReject(null);
      r();
    }),
  );
  if (!opts.silent) socket.on("connect", () => socket.write(associateRq()));
  return { socket, answer, reject, closed, pdus };
}

let scp: TestScp | null = null;
afterAll(async () => {
  await scp?.close();
});
async function fresh(overrides: Parameters<typeof startTestScp>[0]): Promise<TestScp> {
  await scp?.close();
  scp = await startTestScp({ host: "0.0.0.0", ...overrides });
  return scp;
}
const stagedFiles = async (s: TestScp) => (await readdir(s.stagingDir)).sort();

describe("per-instance size limit", () => {
  it("answers a failure status for an instance over maxInstanceBytes and keeps nothing of it; smaller ones are stored", async () => {
    const s = await fresh({ maxInstanceBytes: 200_000 });
    // -d: storescu prints the response's Error Comment; --no-halt: it goes on after a refusal.
    const r = await run("storescu", ["-v", "-d", "--no-halt", "-aec", "ATRIUM", "127.0.0.1", String(s.port), SMALL, LARGE, SMALL]);
    const out = r.stdout + r.stderr;
    expect(out.match(/DIMSE Status\s*: 0x0000: Success/g), "two responses with status Success").toHaveLength(2);
    expect(out.match(/DIMSE Status\s*: 0xa700: Refused: Out of resources/g), "one refused (0xA700)").toHaveLength(1);
    expect(out).toMatch(/\(0000,0902\) LO \[Instance larger than the limit of 200000 bytes; not kept\]/);
    expect(s.stored.map((x) => x.sizeBytes).every((n) => n < 200_000)).toBe(true);
    expect(s.stored).toHaveLength(2);
    expect(s.handle.stats()).toMatchObject({ instancesStored: 2, instancesFailed: 1 });
    // Only the two stored files: no partial, no oversized file.
    expect(await stagedFiles(s)).toEqual(s.stored.map((x) => path.basename(x.path)).sort());
  });
});

describe("associations and connections per address", () => {
  it("refuses a third association from one address (transient, local limit exceeded) while other addresses get in", async () => {
    const s = await fresh({ maxAssociationsPerAddress: 2 });
    const a = rawPeer(s.port, "127.0.0.2");
    const b = rawPeer(s.port, "127.0.0.2");
    expect(await a.answer).toBe(0x02);
    expect(await b.answer).toBe(0x02);
    const c = rawPeer(s.port, "127.0.0.2");
    expect(await c.reject).toEqual([2, 3, 2]);
    const echo = await run("echoscu", ["-aec", "ATRIUM", "127.0.0.1", String(s.port)]);
    expect(echo.code, echo.stderr).toBe(0);
    a.socket.destroy();
    b.socket.destroy();
    await waitFor("the SCP to see both close", () => s.handle.stats().activeAssociations === 0);
    const d = rawPeer(s.port, "127.0.0.2");
    expect(await d.answer, "room again once they are gone").toBe(0x02);
    d.socket.destroy();
  });

  it("closes connections from one address beyond twice that limit at once, before they say anything", async () => {
    const s = await fresh({ maxAssociationsPerAddress: 2 });
    const peers = Array.from({ length: 8 }, () => rawPeer(s.port, "127.0.0.3", { silent: true }));
    await Promise.all(peers.slice(4).map((p) => p.closed));
    const open = peers.slice(0, 4);
    expect(open.every((p) => !p.socket.destroyed)).toBe(true);
    const echo = await run("echoscu", ["-aec", "ATRIUM", "127.0.0.1", String(s.port)]);
    expect(echo.code, echo.stderr).toBe(0);
    for (const p of open) p.socket.destroy();
  });
});

describe("idle associations", () => {
  it("an association silent for idleTimeoutMs is aborted; a connection that never asks for one is closed", async () => {
    const s = await fresh({ idleTimeoutMs: 800, associationRequestTimeoutMs: 800 });
    const idle = rawPeer(s.port, "127.0.0.4");
    const mute = rawPeer(s.port, "127.0.0.4", { silent: true });
    expect(await idle.answer).toBe(0x02);
    const started = Date.now();
    await Promise.all([idle.closed, mute.closed]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(idle.pdus).toContain(0x07);
  });

  it("at the association limit, the longest idle association gives way to a new sender", async () => {
    const s = await fresh({ maxAssociations: 3, evictIdleAfterMs: 300 });
    const idle = ["127.0.0.5", "127.0.0.6", "127.0.0.7"].map((addr) => rawPeer(s.port, addr));
    for (const p of idle) expect(await p.answer).toBe(0x02);
    await new Promise((r) => setTimeout(r, 500));
    const r = await run("storescu", ["-v", "-aec", "ATRIUM", "127.0.0.1", String(s.port), SMALL]);
    expect(storescuSuccesses(r.stdout + r.stderr), r.stdout + r.stderr).toEqual([SMALL]);
    // One idle association was aborted to make room.
    await waitFor("one idle association aborted", () => idle.filter((p) => p.socket.destroyed || p.pdus.includes(0x07)).length === 1);
    for (const p of idle) p.socket.destroy();
  });

  it("an association idle for less than evictIdleAfterMs stays; the newcomer is refused (local limit exceeded)", async () => {
    const s = await fresh({ maxAssociations: 1, evictIdleAfterMs: 60_000 });
    const idle = rawPeer(s.port, "127.0.0.8");
    expect(await idle.answer).toBe(0x02);
    // Idle for less than evictIdleAfterMs: the newcomer is refused, the idle one stays.
    const r = await run("echoscu", ["-aec", "ATRIUM", "127.0.0.1", String(s.port)]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/Local Limit Exceeded/);
    expect(idle.socket.destroyed).toBe(false);
    idle.socket.destroy();
  });
});

