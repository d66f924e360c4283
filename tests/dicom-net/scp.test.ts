// The C-STORE/C-ECHO SCP against real DCMTK peers (echoscu, storescu, and storescp as a witness).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPart10Info } from "@/lib/dicom-net/part10";
import type { AssociationEvent } from "@/lib/dicom-net/scp";
import { freePort, run, sampleFiles, startTestScp, storescuConfig, storescuSuccesses, tempDir, type TestScp } from "./helpers";

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
      await new Promise((r) => setTimeout(r, 300));
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
