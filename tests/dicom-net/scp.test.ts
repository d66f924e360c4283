// The C-STORE/C-ECHO SCP against real DCMTK peers (echoscu, storescu, and storescp as a witness).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs, { readFileSync, statSync, writeFileSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFileMetaHeader, readPart10Info } from "@/lib/dicom-net/part10";
import type { AssociationEvent } from "@/lib/dicom-net/scp";
import { freePort, run, sampleFiles, startTestScp, storescuConfig, storescuSuccesses, tempDir, type TestScp } from "./helpers";
import { waitFor, waitForPort } from "../helpers/wait";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function datasetBytes(file: string): Promise<Buffer> {
  const info = await readPart10Info(file);
  return readFileSync(file).subarray(info.datasetOffset);
}

let files: string[];
let cfgDir: string;
let cfg: string;

beforeAll(async () => {
  files = await sampleFiles();
  cfgDir = await tempDir("cfg");
  cfg = await storescuConfig(files, cfgDir);
});
afterAll(async () => {
  await rm(cfgDir, { recursive: true, force: true });
});

describe("association negotiation", () => {
  let scp: TestScp;
  beforeAll(async () => {
    scp = await startTestScp();
  });
  afterAll(async () => scp.close());

  it("answers C-ECHO from echoscu", async () => {
    const r = await run("echoscu", ["-aec", "ATRIUM", "-aet", "ECHOER", "127.0.0.1", String(scp.port)]);
    expect(r.code, r.stderr).toBe(0);
    expect(scp.handle.stats().echoes).toBe(1);
    const accepted = scp.events.find((e) => e.type === "accepted" && e.callingAe === "ECHOER");
    expect(accepted).toMatchObject({ calledAe: "ATRIUM", remoteAddress: "127.0.0.1", acceptedContexts: 1 });
  });

  it("rejects an unknown called AE: permanent, service user, called AE title not recognized", async () => {
    const r = await run("echoscu", ["-aec", "NOBODY", "127.0.0.1", String(scp.port)]);
    expect(r.code).not.toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/Association Rejected/);
    expect(out).toMatch(/Result: Rejected Permanent, Source: Service User/);
    expect(out).toMatch(/Reason: Called AE Title Not Recognized/);
    expect(scp.events).toContainEqual(expect.objectContaining({ type: "rejected", calledAe: "NOBODY", reason: "called-ae-not-recognized" }));
  });

  it("rejects an unknown calling AE with calling AE title not recognized (storescu too)", async () => {
    const r = await run("storescu", ["-aet", "STRANGER", "-aec", "ATRIUM", "127.0.0.1", String(scp.port), files.find((f) => f.endsWith("CT_small.dcm"))!]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/Reason: Calling AE Title Not Recognized/);
    expect(scp.stored).toHaveLength(0);
  });
});

describe("storescu sends every sample", () => {
  it("stores each instance storescu sent exactly once, as a Part 10 file with the very bytes storescu sent", async () => {
    const scp = await startTestScp();
    const witnessDir = await tempDir("witness");
    const witnessPort = await freePort();
    // DCMTK storescp in bit-preserving mode writes each dataset exactly as received: the witness of what storescu sent.
    const { spawn } = await import("node:child_process");
    const storescp = spawn("storescp", ["+B", "+uf", "-pm", "+xa", "-od", witnessDir, "-aet", "ATRIUM", String(witnessPort)], {
      env: { ...process.env, TCP_NODELAY: "1" },
      stdio: "ignore",
    });
    try {
      await waitForPort(witnessPort, "the witness storescp to listen");
      const args = ["-nh", "-v", "-xf", cfg, "Default", "-aec", "ATRIUM", "127.0.0.1"];
      const [ours, theirs] = await Promise.all([
        run("storescu", [...args, String(scp.port), ...files]),
        run("storescu", [...args, String(witnessPort), ...files]),
      ]);
      const sent = storescuSuccesses(ours.stdout + ours.stderr);
      expect(sent.length).toBeGreaterThan(0);
      expect(storescuSuccesses(theirs.stdout + theirs.stderr)).toEqual(sent);

      // Exactly once: one hook call per successful C-STORE, each with its own durable file.
      expect(scp.stored).toHaveLength(sent.length);
      expect(new Set(scp.stored.map((s) => s.path)).size).toBe(sent.length);
      const staged = (await readdir(scp.stagingDir)).sort();
      expect(staged).toEqual(scp.stored.map((s) => path.basename(s.path)).sort());

      // Every file parses with dcmdump, and its meta header says what the hook was told.
      const dump = await run("dcmdump", ["-q", "-M", "+P", "0002,0002", "+P", "0002,0003", "+P", "0002,0010", "+F", ...scp.stored.map((s) => s.path)]);
      expect(dump.code, dump.stderr).toBe(0);
      for (const s of scp.stored) {
        const info = await readPart10Info(s.path);
        expect(info.framing).toBe("part10");
        expect(info.transferSyntaxUid).toBe(s.transferSyntaxUid);
        expect(info.metaSopInstanceUid).toBe(s.sopInstanceUid);
        expect(info.metaSopClassUid).toBe(s.sopClassUid);
        const bytes = readFileSync(s.path);
        expect(bytes.length).toBe(s.sizeBytes);
        expect(sha(bytes)).toBe(s.sha256);
        expect(s).toMatchObject({ callingAe: "STORESCU", calledAe: "ATRIUM", remoteAddress: "127.0.0.1" });
      }

      // In sending order, the i-th stored instance is the i-th file storescu sent: same SOP instance,
      // the context's syntax, and dataset bytes identical to the source where storescu did not re-encode.
      let identicalToSource = 0;
      for (let i = 0; i < sent.length; i++) {
        const src = await readPart10Info(sent[i]!);
        const srcUid = src.datasetSopInstanceUid ?? src.sopInstanceUid;
        // kept as sent, even a UID that is not digits and dots (bad_sequence.dcm's is a hex string)
        expect(scp.stored[i]!.sopInstanceUid).toBe(srcUid);
        expect(scp.stored[i]!.transferSyntaxUid).toBe(src.transferSyntaxUid);
        if ((await datasetBytes(sent[i]!)).equals(await datasetBytes(scp.stored[i]!.path))) identicalToSource++;
      }
      expect(identicalToSource).toBeGreaterThan(sent.length / 2);

      // Byte for byte what storescu put on the wire: the same multiset of datasets as the witness got.
      const witnessFiles = (await readdir(witnessDir)).map((f) => path.join(witnessDir, f));
      expect(witnessFiles).toHaveLength(sent.length);
      const ourHashes = (await Promise.all(scp.stored.map(async (s) => sha(await datasetBytes(s.path))))).sort();
      const theirHashes = (await Promise.all(witnessFiles.map(async (f) => sha(await datasetBytes(f))))).sort();
      expect(ourHashes).toEqual(theirHashes);
    } finally {
      storescp.kill("SIGTERM");
      await scp.close();
      await rm(witnessDir, { recursive: true, force: true });
    }
  });
});

describe("load and failure", () => {
  it("serves several associations at once", async () => {
    const delays: Promise<void>[] = [];
    let active = 0;
    let maxActive = 0;
    const scp = await startTestScp({
      hook: async () => {
        const p = new Promise<void>((r) => setTimeout(r, 15));
        delays.push(p);
        await p;
        return 0;
      },
      onAssociation: (e: AssociationEvent) => {
        if (e.type === "accepted") maxActive = Math.max(maxActive, ++active);
        if (e.type === "ended") active--;
      },
    });
    try {
      const subset = files.filter((f) => /bbmri|CT_small|MR2_UNCR|US1_UNCR|ctimage|emri_small\.dcm|chrFren/.test(f));
      const runs = await Promise.all(
        ["A", "B", "C"].map((aet) => run("storescu", ["-nh", "-v", "-aet", `SENDER${aet}`, "-xf", cfg, "Default", "-aec", "ATRIUM", "127.0.0.1", String(scp.port), ...subset])),
      );
      for (const r of runs) expect(storescuSuccesses(r.stdout + r.stderr)).toHaveLength(subset.length);
      expect(scp.stored).toHaveLength(3 * subset.length);
      expect(maxActive).toBeGreaterThanOrEqual(2);
      // storescu may exit before the SCP has seen its connection close
      await waitFor("the associations to end", () => scp.handle.stats().activeAssociations === 0);
      const stats = scp.handle.stats();
      expect(stats).toMatchObject({ associationsAccepted: 3, instancesStored: 3 * subset.length, instancesFailed: 0, activeAssociations: 0 });
      expect(new Set(scp.stored.map((s) => s.associationId)).size).toBe(3);
    } finally {
      await scp.close();
    }
  });

  it("answers 0xA700 when the hook throws and leaves no staged file", async () => {
    let calls = 0;
    const scp = await startTestScp({
      hook: async () => {
        calls++;
        throw new Error("database unavailable");
      },
    });
    try {
      const two = files.filter((f) => /CT_small|MR2_UNCR/.test(f));
      const r = await run("storescu", ["-nh", "-v", "-xf", cfg, "Default", "-aec", "ATRIUM", "127.0.0.1", String(scp.port), ...two]);
      const out = r.stdout + r.stderr;
      expect(out.match(/Received Store Response \(Refused: OutOfResources\)/g) ?? out).toHaveLength(2);
      expect(calls).toBe(2);
      expect(await readdir(scp.stagingDir)).toEqual([]);
      expect(scp.handle.stats()).toMatchObject({ instancesStored: 0, instancesFailed: 2 });
    } finally {
      await scp.close();
    }
  });

  it("deletes the file when the hook answers a failure status, keeps it on success", async () => {
    const statuses = [0xa900, 0x0000];
    const scp = await startTestScp({ hook: async () => statuses.shift()! });
    try {
      const two = files.filter((f) => /CT_small|MR2_UNCR/.test(f));
      const r = await run("storescu", ["-nh", "-v", "-xf", cfg, "Default", "-aec", "ATRIUM", "127.0.0.1", String(scp.port), ...two]);
      expect(r.stdout + r.stderr).toMatch(/Received Store Response \(Error: DataSetDoesNotMatchSOPClass\)|Received Store Response \(0xa900/i);
      expect(storescuSuccesses(r.stdout + r.stderr)).toHaveLength(1);
      const left = await readdir(scp.stagingDir);
      expect(scp.stored).toHaveLength(1);
      expect(left).toEqual([path.basename(scp.stored[0]!.path)]);
    } finally {
      await scp.close();
    }
  });

  it("close() lets an association in progress finish, then refuses new connections", async () => {
    const scp = await startTestScp({
      hook: async () => {
        await new Promise((r) => setTimeout(r, 40));
        return 0;
      },
    });
    const subset = files.filter((f) => /bbmri/.test(f));
    const sending = run("storescu", ["-nh", "-v", "-xf", cfg, "Default", "-aec", "ATRIUM", "127.0.0.1", String(scp.port), ...subset]);
    // wait until the association is up and storing
    for (let i = 0; i < 100 && scp.stored.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(scp.stored.length).toBeGreaterThan(0);
    const closed = scp.handle.close({ timeoutMs: 10_000 });
    const r = await sending;
    await closed;
    expect(storescuSuccesses(r.stdout + r.stderr)).toHaveLength(subset.length);
    expect(scp.stored).toHaveLength(subset.length);
    const late = await run("echoscu", ["-aec", "ATRIUM", "127.0.0.1", String(scp.port)]);
    expect(late.code).not.toBe(0);
    await scp.close();
  });
});

// ---------------------------------------------------------------------------------------------
// Services other than storage, and senders that vanish mid-dataset. A small TCP proxy between the
// DCMTK tool and the SCP makes both deterministic: it can rewrite the A-ASSOCIATE-RQ, and it can
// forward a fixed number of bytes and then cut the connection.

interface CutProxy {
  port: number;
  /** Client→SCP bytes forwarded so far. */
  forwarded(): number;
  /** Resolves once `forwardLimit` bytes went through (the client is then paused). */
  limitReached: Promise<void>;
  /** Cuts every connection: both sockets, the SCP side with FIN ("end") or RST ("reset"). */
  cut(how: "end" | "reset"): void;
  close(): Promise<void>;
}

async function startProxy(
  targetPort: number,
  opts: { rewriteFirstPdu?: (pdu: Buffer) => Buffer; rewritePdu?: (pdu: Buffer) => Buffer; forwardLimit?: number } = {},
): Promise<CutProxy> {
  const pairs: Array<{ client: net.Socket; upstream: net.Socket }> = [];
  let forwarded = 0;
  let hit!: () => void;
  const limitReached = new Promise<void>((r) => (hit = r));
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect(targetPort, "127.0.0.1");
    upstream.setNoDelay(true);
    pairs.push({ client, upstream });
    upstream.on("data", (d: Buffer) => client.write(d));
    upstream.on("end", () => client.end());
    client.on("end", () => upstream.end());
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    let pending: Buffer | null = opts.rewriteFirstPdu ? Buffer.alloc(0) : null;
    let framing = Buffer.alloc(0);
    client.on("data", (chunk: Buffer) => {
      let d = chunk;
      if (opts.rewritePdu) {
        // every client→SCP PDU, whole, through the rewrite
        framing = Buffer.concat([framing, chunk]);
        const out: Buffer[] = [];
        while (framing.length >= 6 && framing.length >= 6 + framing.readUInt32BE(2)) {
          const end = 6 + framing.readUInt32BE(2);
          out.push(opts.rewritePdu(Buffer.from(framing.subarray(0, end))));
          framing = framing.subarray(end);
        }
        if (!out.length) return;
        d = Buffer.concat(out);
      } else if (pending) {
        pending = Buffer.concat([pending, chunk]);
        if (pending.length < 6 || pending.length < 6 + pending.readUInt32BE(2)) return;
        const end = 6 + pending.readUInt32BE(2);
        d = Buffer.concat([opts.rewriteFirstPdu!(pending.subarray(0, end)), pending.subarray(end)]);
        pending = null;
      }
      if (opts.forwardLimit !== undefined && forwarded + d.length >= opts.forwardLimit) {
        const room = opts.forwardLimit - forwarded;
        upstream.write(d.subarray(0, room));
        forwarded += room;
        client.pause();
        hit();
        return;
      }
      forwarded += d.length;
      upstream.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    forwarded: () => forwarded,
    limitReached,
    cut(how) {
      for (const { client, upstream } of pairs) {
        if (how === "reset") upstream.resetAndDestroy();
        else upstream.destroy();
        client.destroy();
      }
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}


const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
/** PET Image Storage: a storage SOP class the SCP accepts, exactly as long as the Study Root FIND UID. */
const PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128";

describe("other services and broken senders", () => {
  it("findscu: its C-FIND context is refused at negotiation, findscu says so, the SCP keeps serving", async () => {
    const scp = await startTestScp();
    try {
      const r = await run("findscu", ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=X", "-aet", "FINDER", "-aec", "ATRIUM", "127.0.0.1", String(scp.port)]);
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/No Acceptable Presentation Contexts/i);
      expect(scp.events).toContainEqual(expect.objectContaining({ type: "accepted", callingAe: "FINDER", acceptedContexts: 0, rejectedContexts: 1 }));
      await waitFor("the association to end", () => scp.events.some((e) => e.type === "ended" && e.callingAe === "FINDER"));
      const echo = await run("echoscu", ["-aec", "ATRIUM", "127.0.0.1", String(scp.port)]);
      expect(echo.code, echo.stderr).toBe(0);
      // echoscu may exit before the SCP has seen its connection close
      await waitFor("the echo association to end", () => scp.handle.stats().activeAssociations === 0);
      expect(scp.handle.stats()).toMatchObject({ echoes: 1, activeAssociations: 0, instancesStored: 0, instancesFailed: 0 });
    } finally {
      await scp.close();
    }
  });

  it("findscu's C-FIND, smuggled past negotiation, is answered 0x0211 Unrecognized Operation; the association then releases normally", async () => {
    const scp = await startTestScp();
    // The A-ASSOCIATE-RQ goes through with the FIND abstract syntax renamed to a storage class of the
    // same length (no length field changes); findscu still sends a C-FIND-RQ with its identifier on it.
    let rewrote = 0;
    const proxy = await startProxy(scp.port, {
      rewriteFirstPdu: (pdu) => {
        const text = pdu.toString("latin1");
        rewrote += text.split(STUDY_ROOT_FIND).length - 1;
        return Buffer.from(text.split(STUDY_ROOT_FIND).join(PET_STORAGE), "latin1");
      },
    });
    try {
      const r = await run("findscu", ["-v", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=X", "-aet", "FINDER", "-aec", "ATRIUM", "127.0.0.1", String(proxy.port)]);
      const out = r.stdout + r.stderr;
      expect(rewrote).toBe(1);
      expect(out).toMatch(/Association Accepted/);
      expect(out).toMatch(/Sending Find Request/);
      // DCMTK 3.6.7 has no name for 0x0211 among the C-FIND statuses: "(Unknown Status: 0x211)"
      expect(out).toMatch(/Received Final Find Response \((Unknown Status: 0x211|Failure: UnrecognizedOperation)\)/);
      expect(out).toMatch(/Releasing Association/);
      await waitFor("the association to end", () => scp.events.find((e) => e.type === "ended" && e.callingAe === "FINDER"));
      expect(scp.events).toContainEqual(expect.objectContaining({ type: "ended", callingAe: "FINDER", how: "released", instancesStored: 0, instancesFailed: 0 }));
      expect(scp.stored).toHaveLength(0);
      expect(await readdir(scp.stagingDir)).toEqual([]);
      const echo = await run("echoscu", ["-aec", "ATRIUM", "127.0.0.1", String(scp.port)]);
      expect(echo.code, echo.stderr).toBe(0);
    } finally {
      await proxy.close();
      await scp.close();
    }
  });

  for (const how of ["end", "reset"] as const) {
    it(`a sender cut off mid-dataset (connection ${how === "end" ? "closed" : "reset"}) leaves no file and no record; the next association works`, async () => {
      let hookCalls = 0;
      const scp = await startTestScp({
        hook: async () => {
          hookCalls++;
          return 0;
        },
      });
      const big = files.find((f) => f.endsWith("MR2_UNCR.dcm"))!;
      const size = readFileSync(big).length;
      expect(size).toBeGreaterThan(1_500_000);
      // association request + command + ~300 KB of a 2 MB dataset, then nothing more
      const proxy = await startProxy(scp.port, { forwardLimit: 300_000 });
      const storescu = spawn("storescu", ["-nh", "-xf", cfg, "Default", "--max-send-pdu", "16384", "-aec", "ATRIUM", "127.0.0.1", String(proxy.port), big], {
        env: { ...process.env, TCP_NODELAY: "1" },
        stdio: "ignore",
      });
      const exited = new Promise<void>((r) => storescu.once("close", () => r()));
      try {
        await proxy.limitReached;
        expect(proxy.forwarded()).toBe(300_000);
        const partial = await waitFor("a .partial file", async () => (await readdir(scp.stagingDir)).find((f) => f.endsWith(".partial")));
        expect(scp.handle.stats().activeAssociations).toBe(1);
        // the sender dies and the connection goes with it
        storescu.kill("SIGKILL");
        proxy.cut(how);
        await exited;
        await waitFor("the association to end", () => scp.events.find((e) => e.type === "ended"));
        await waitFor("the partial file to go", async () => !(await readdir(scp.stagingDir)).includes(partial));
        // nothing is left behind, nothing was recorded or counted
        await new Promise((r) => setTimeout(r, 200));
        expect(await readdir(scp.stagingDir)).toEqual([]);
        expect(hookCalls).toBe(0);
        expect(scp.stored).toHaveLength(0);
        // a reset is usually reported as an error, but the close can win the race under load
        expect(scp.events.find((e) => e.type === "ended")).toMatchObject({
          how: how === "end" ? "connection-closed" : expect.stringMatching(/^(error|connection-closed)$/),
          instancesStored: 0,
          instancesFailed: 0,
          bytesStored: 0,
        });
        expect(scp.handle.stats()).toMatchObject({ activeAssociations: 0, instancesStored: 0, instancesFailed: 0, bytesStored: 0 });
        // the SCP still serves: an echo, and the very same file sent directly
        const echo = await run("echoscu", ["-aec", "ATRIUM", "127.0.0.1", String(scp.port)]);
        expect(echo.code, echo.stderr).toBe(0);
        const again = await run("storescu", ["-nh", "-v", "-xf", cfg, "Default", "-aec", "ATRIUM", "127.0.0.1", String(scp.port), big]);
        expect(storescuSuccesses(again.stdout + again.stderr)).toEqual([big]);
        expect(hookCalls).toBe(1);
        expect(await readdir(scp.stagingDir)).toEqual([path.basename(scp.stored[0]!.path)]);
      } finally {
        storescu.kill("SIGKILL");
        await proxy.close();
        await scp.close();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Regressions: a request without a Message ID, and back-pressure on a data set's last fragment.

/** Renames (0000,0110) Message ID to (0000,0111) in every command PDV of a P-DATA-TF; counts the renames. */
function dropMessageId(pdu: Buffer, renamed: { count: number }): Buffer {
  if (pdu[0] !== 0x04) return pdu;
  for (let item = 6; item + 6 <= pdu.length; item += 4 + pdu.readUInt32BE(item)) {
    if ((pdu[item + 5]! & 0x01) === 0) continue; // a data set fragment
    const end = item + 4 + pdu.readUInt32BE(item);
    // the command set, implicit VR little endian: tag (4), length (4), value
    for (let el = item + 6; el + 8 <= end; el += 8 + pdu.readUInt32LE(el + 4)) {
      if (pdu.readUInt16LE(el) === 0x0000 && pdu.readUInt16LE(el + 2) === 0x0110) {
        pdu.writeUInt16LE(0x0111, el + 2);
        renamed.count++;
      }
    }
  }
  return pdu;
}

/**
 * Blocks every thread of libuv's pool (fs, crypto, zlib) until release(): each blocked job is an
 * open() of a FIFO for reading, which waits for a writer. Nothing burns CPU meanwhile.
 */
async function blockThreadpool(dir: string): Promise<{ release(): Promise<void> }> {
  const fifo = path.join(dir, "threadpool.fifo");
  const mk = await run("mkfifo", [fifo]);
  expect(mk.code, mk.stderr).toBe(0);
  const threads = Math.max(4, Number(process.env.UV_THREADPOOL_SIZE) || 4);
  const opened = Array.from({ length: threads + 2 }, () => fs.promises.open(fifo, "r"));
  let released: Promise<void> | null = null;
  return {
    release() {
      // O_RDWR on a FIFO never blocks (Linux), and it is the writer the blocked readers wait for.
      released ??= (async () => {
        const writer = fs.openSync(fifo, "r+");
        try {
          for (const h of await Promise.all(opened)) await h.close();
        } finally {
          fs.closeSync(writer);
        }
      })();
      return released;
    },
  };
}

describe("regressions", () => {
  it("a C-STORE-RQ without a Message ID aborts the association: nothing stored, no crash, the SCP keeps serving", async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on("unhandledRejection", onRejection);
    let hookCalls = 0;
    const scp = await startTestScp({
      hook: async () => {
        hookCalls++;
        return 0;
      },
    });
    const renamed = { count: 0 };
    const proxy = await startProxy(scp.port, { rewritePdu: (pdu) => dropMessageId(pdu, renamed) });
    try {
      const ct = files.find((f) => f.endsWith("CT_small.dcm"))!;
      const r = await run("storescu", ["-nh", "-v", "-xf", cfg, "Default", "-aec", "ATRIUM", "127.0.0.1", String(proxy.port), ct], { timeoutMs: 10_000 });
      const out = r.stdout + r.stderr;
      expect(renamed.count).toBe(1);
      expect(out).toMatch(/Sending Store Request \(MsgID 1/);
      expect(r.code, out).not.toBe(0);
      expect(out).toMatch(/Store Failed/);
      // the A-ABORT, or (when it lands while storescu is still sending the data set) the broken pipe
      expect(out).toMatch(/Peer Aborted Association|TCP I\/O Error \((Broken pipe|Connection reset)/i);
      expect(storescuSuccesses(out)).toEqual([]);

      const ended = await waitFor("the association to end", () => scp.events.find((e) => e.type === "ended"));
      // a protocol error: abortNow() sends the A-ABORT, protocolError() has already named the end "error"
      expect(ended).toMatchObject({ how: "error", callingAe: "STORESCU", instancesStored: 0, instancesFailed: 0, bytesStored: 0 });
      // nothing staged, now or a little later
      for (const until = Date.now() + 300; Date.now() < until; ) {
        expect((await readdir(scp.stagingDir)).filter((f) => f.endsWith(".dcm") || f.endsWith(".partial"))).toEqual([]);
        await new Promise((res) => setTimeout(res, 25));
      }
      expect(hookCalls).toBe(0);
      expect(scp.stored).toHaveLength(0);
      expect(scp.handle.stats()).toMatchObject({ activeAssociations: 0, instancesStored: 0, instancesFailed: 0, bytesStored: 0 });

      const echo = await run("echoscu", ["-aec", "ATRIUM", "127.0.0.1", String(scp.port)]);
      expect(echo.code, echo.stderr).toBe(0);
      expect(rejections).toEqual([]);
    } finally {
      process.off("unhandledRejection", onRejection);
      await proxy.close();
      await scp.close();
    }
  });

  it("back-pressure on a data set's last fragment: reading resumes and the next instance on the association is stored", async () => {
    // A 4 MiB data set, exactly the staging file's high-water mark: while the file cannot open (the
    // threadpool is blocked), every fragment is buffered, and the write of the last one returns false.
    const dir = await tempDir("lastfrag");
    const el = (g: number, e: number, v: Buffer) => {
      const h = Buffer.alloc(8);
      h.writeUInt16LE(g, 0);
      h.writeUInt16LE(e, 2);
      h.writeUInt32LE(v.length, 4);
      return Buffer.concat([h, v]);
    };
    const SC = "1.2.840.10008.5.1.4.1.1.7";
    const uid = "1.2.3.4.5.6.7.8.9";
    const D = 4 * 1024 * 1024;
    const head = Buffer.concat([el(0x0008, 0x0016, Buffer.from(`${SC}\0`, "latin1")), el(0x0008, 0x0018, Buffer.from(`${uid}\0`, "latin1"))]);
    const dataset = Buffer.concat([head, el(0x7fe0, 0x0010, Buffer.alloc(D - head.length - 8, 7))]);
    expect(dataset.length).toBe(D);
    const big = path.join(dir, "big.dcm");
    writeFileSync(big, Buffer.concat([buildFileMetaHeader({ sopClassUid: SC, sopInstanceUid: uid, transferSyntaxUid: "1.2.840.10008.1.2" }), dataset]));
    const ct = files.find((f) => f.endsWith("CT_small.dcm"))!;
    const ctUid = (await readPart10Info(ct)).sopInstanceUid;

    const scp = await startTestScp({ idleTimeoutMs: 4000 });
    const proxy = await startProxy(scp.port);
    const pool = await blockThreadpool(dir);
    // proof that the pool stays blocked until released: a stat queued behind the blocking jobs
    let statDone = false;
    const probe = fs.promises.stat(dir).then(() => (statDone = true));
    try {
      const sending = run("storescu", ["-nh", "-v", "-xi", "-aec", "ATRIUM", "127.0.0.1", String(proxy.port), big, ct], { timeoutMs: 15_000 });
      // the whole first data set has reached the SCP (then storescu waits for its response)
      await waitFor("the data set to go through", () => proxy.forwarded() > D);
      let last = -1;
      await waitFor("the sender to wait", async () => {
        const now = proxy.forwarded();
        if (now === last) return true;
        last = now;
        await new Promise((res) => setTimeout(res, 150));
        return false;
      });
      expect(statDone).toBe(false);
      expect(scp.stored).toHaveLength(0);
      const releasedAt = Date.now();
      await pool.release();
      await probe;
      const r = await sending;
      const tookMs = Date.now() - releasedAt;
      const out = r.stdout + r.stderr;

      expect(storescuSuccesses(out), out).toEqual([big, ct]);
      expect(r.code, out).toBe(0);
      // well under the 4 s idle timeout: the socket was not left paused
      expect(tookMs).toBeLessThan(3000);
      expect(scp.stored.map((s) => s.sopInstanceUid)).toEqual([uid, ctUid]);
      expect(sha(await datasetBytes(scp.stored[0]!.path))).toBe(sha(dataset));
      for (const s of scp.stored) expect(statSync(s.path).size).toBe(s.sizeBytes);
      expect(scp.stored[0]!.sizeBytes).toBeGreaterThan(D);
      expect(scp.events.find((e) => e.type === "ended")).toMatchObject({ how: "released", instancesStored: 2, instancesFailed: 0 });
    } finally {
      await pool.release();
      await proxy.close();
      await scp.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
