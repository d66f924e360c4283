// `atrium send` (lib/dicom-net/scu.ts) against our SCP and against DCMTK storescp.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { part10InfoOfBuffer, readPart10Info, readPart10InfoSync } from "@/lib/dicom-net/part10";
import { sendDicom, type SendSummary } from "@/lib/dicom-net/scu";
import { TS } from "@/lib/dicom-net/uids";
import { freePort, run, SAMPLES, startTestScp, tempDir } from "./helpers";
import { waitForPort } from "../helpers/wait";

const ATRIUM = path.resolve(import.meta.dirname, "../../bin/atrium.mjs");

async function atriumSend(args: string[]): Promise<{ code: number | null; summary: SendSummary; stderr: string }> {
  const r = await run(process.execPath, [ATRIUM, "send", ...args, "--json"], { env: { ...process.env, ATRIUM_LOG_LEVEL: "warn" }, timeoutMs: 60_000 });
  const json = r.stdout.slice(r.stdout.indexOf("{"));
  return { code: r.code, summary: JSON.parse(json) as SendSummary, stderr: r.stderr };
}

describe("atrium send", () => {
  it("sends every sample to our SCP unchanged, byte for byte", async () => {
    const scp = await startTestScp();
    try {
      const { code, summary, stderr } = await atriumSend([SAMPLES, "--to", `127.0.0.1:${scp.port}`, "--aet", "ATRIUM", "--calling", "SENDER"]);
      expect(code, stderr).toBe(0);
      expect(summary.failed).toBe(0);
      expect(summary.sent).toBeGreaterThan(0);
      expect(summary.sent + summary.skipped).toBe((await readdir(SAMPLES)).length);
      for (const o of summary.outcomes.filter((o) => o.outcome === "skipped")) expect(o.reason).toBeTruthy();
      expect(scp.stored).toHaveLength(summary.sent);

      // Sent in order over one association: the i-th sent file is the i-th stored instance.
      const sent = summary.outcomes.filter((o) => o.outcome === "sent");
      for (let i = 0; i < sent.length; i++) {
        const src = await readPart10Info(sent[i]!.path);
        const stored = scp.stored[i]!;
        expect(stored).toMatchObject({
          sopInstanceUid: src.datasetSopInstanceUid,
          sopClassUid: src.datasetSopClassUid,
          transferSyntaxUid: src.transferSyntaxUid,
          callingAe: "SENDER",
        });
        const original = readFileSync(sent[i]!.path).subarray(src.datasetOffset);
        const received = readFileSync(stored.path).subarray((await readPart10Info(stored.path)).datasetOffset);
        // a deflated stream of odd length gets its PS3.5 §A.5 null pad byte
        const expected = original.length % 2 === 1 && src.transferSyntaxUid === TS.DeflatedExplicitVRLittleEndian ? Buffer.concat([original, Buffer.alloc(1)]) : original;
        expect(received.equals(expected), sent[i]!.path).toBe(true);
      }
      const dump = await run("dcmdump", ["-q", "+F", ...scp.stored.map((s) => s.path)]);
      expect(dump.code, dump.stderr).toBe(0);
    } finally {
      await scp.close();
    }
  });

  it("sends the samples to DCMTK storescp; what fails is refused by storescp itself", async () => {
    const out = await tempDir("storescp");
    const port = await freePort();
    const storescp = spawn("storescp", ["+xa", "-pm", "--fork", "-od", out, "-aet", "STORESCP", String(port)], {
      env: { ...process.env, TCP_NODELAY: "1" },
      stdio: "ignore",
    });
    try {
      await waitForPort(port, "storescp to listen");
      const { code, summary } = await atriumSend([SAMPLES, "--to", `127.0.0.1:${port}`, "--aet", "STORESCP"]);
      expect(summary.sent).toBeGreaterThan(0);
      expect(code).toBe(summary.failed > 0 ? 1 : 0);
      for (const f of summary.outcomes.filter((o) => o.outcome === "failed")) {
        // either storescp answered a failure status about the dataset, or it refused a syntax DCMTK 3.6.7 does not know
        if (f.status === undefined) expect(f.reason).toMatch(/^peer refused transfer syntax (1\.2\.840\.10008\.1\.2\.4\.20\d|1\.2\.840\.10008\.1\.2\.8\.1) /);
        else expect(f.status & 0xf000).not.toBe(0);
      }
      // storescp names files <modality prefix of the SOP class>.<SOP Instance UID> (a resent one overwrites):
      // one file per distinct (SOP class, instance)
      const sentKeys = new Set<string>();
      const sentUids = new Set<string>();
      for (const o of summary.outcomes.filter((o) => o.outcome === "sent")) {
        const info = await readPart10Info(o.path);
        sentKeys.add(`${info.datasetSopClassUid} ${info.datasetSopInstanceUid}`);
        sentUids.add(info.datasetSopInstanceUid!);
      }
      const written = await readdir(out);
      const ofSent = written.filter((f) => sentUids.has(f.slice(f.indexOf(".") + 1)));
      expect(ofSent).toHaveLength(sentKeys.size);
      // (storescp also leaves a file behind for an instance it then answers with an error status)
      expect(written.length - ofSent.length).toBeLessThanOrEqual(summary.outcomes.filter((o) => o.status !== undefined && o.outcome === "failed").length);
      const dump = await run("dcmdump", ["-q", "+F", ...ofSent.map((f) => path.join(out, f))]);
      expect(dump.code, dump.stderr).toBe(0);
    } finally {
      storescp.kill("SIGTERM");
      await rm(out, { recursive: true, force: true });
    }
  });

  it("unscanned files (framing read as they are sent): the same outcomes as scanned ones, byte for byte; files without a context go in a next association", async () => {
    const names = (await readdir(SAMPLES)).sort();
    const paths = names.map((n) => path.join(SAMPLES, n));
    const missing = path.join(SAMPLES, "no-such-file.dcm");
    const scanned = await (async () => {
      const scp = await startTestScp();
      try {
        return await sendDicom([SAMPLES], { host: "127.0.0.1", port: scp.port, calledAe: "ATRIUM" });
      } finally {
        await scp.close();
      }
    })();
    for (const associations of [1, 2]) {
      const scp = await startTestScp();
      try {
        const seen: string[] = [];
        const summary = await sendDicom(
          { unscanned: [...paths, missing].map((p) => ({ path: p, sizeBytes: 0 })) },
          { host: "127.0.0.1", port: scp.port, calledAe: "ATRIUM", associations, onFile: (o) => seen.push(o.path) },
        );
        // one outcome per file, reported once
        expect(seen.sort()).toEqual([...paths, missing].sort());
        expect(summary.outcomes).toHaveLength(paths.length + 1);
        // the first files of a share do not have every SOP class of the samples: more associations follow
        expect(summary.associations).toBeGreaterThan(associations);
        const kind = new Map(summary.outcomes.map((o) => [o.path, o.outcome]));
        for (const o of scanned.outcomes) expect(kind.get(o.path), o.path).toBe(o.outcome);
        expect(summary.outcomes.find((o) => o.path === missing)).toMatchObject({ outcome: "skipped", reason: "unreadable: ENOENT" });
        expect(summary.sent).toBe(scanned.sent);
        expect(scp.stored).toHaveLength(summary.sent);
        // every sent file arrived with its own bytes
        const storedData = new Map<string, Buffer[]>();
        for (const st of scp.stored) {
          const data = readFileSync(st.path).subarray((await readPart10Info(st.path)).datasetOffset);
          storedData.set(st.sopInstanceUid, [...(storedData.get(st.sopInstanceUid) ?? []), data]);
        }
        for (const o of summary.outcomes.filter((o) => o.outcome === "sent")) {
          const src = await readPart10Info(o.path);
          const original = readFileSync(o.path).subarray(src.datasetOffset);
          const expected = original.length % 2 === 1 && src.transferSyntaxUid === TS.DeflatedExplicitVRLittleEndian ? Buffer.concat([original, Buffer.alloc(1)]) : original;
          expect((storedData.get(src.datasetSopInstanceUid!) ?? []).some((d) => d.equals(expected)), o.path).toBe(true);
          expect(o.sizeBytes).toBe(readFileSync(o.path).length);
        }
      } finally {
        await scp.close();
      }
    }
  });

  it("reads the same framing from a file's head (async or sync) and from the whole file read to send it", async () => {
    const outcome = <T>(f: () => T) => {
      try {
        return { ok: f() };
      } catch (e) {
        return { error: (e as Error).message };
      }
    };
    for (const name of await readdir(SAMPLES)) {
      const f = path.join(SAMPLES, name);
      const expected = await readPart10Info(f).then((ok) => ({ ok }), (e: Error) => ({ error: e.message }));
      expect(outcome(() => part10InfoOfBuffer(readFileSync(f))), name).toEqual(expected);
      const sync = outcome(() => readPart10InfoSync(f));
      expect("ok" in sync ? { ok: { ...sync.ok, sizeBytes: undefined } } : sync, name).toEqual("ok" in expected ? { ok: { ...expected.ok, sizeBytes: undefined } } : expected);
    }
  });

  it("spreads files over several associations", async () => {
    const scp = await startTestScp();
    try {
      const summary = await sendDicom([SAMPLES], { host: "127.0.0.1", port: scp.port, calledAe: "ATRIUM", associations: 3 });
      expect(summary.failed).toBe(0);
      expect(summary.associations).toBe(3);
      expect(scp.events.filter((e) => e.type === "accepted")).toHaveLength(3);
      expect(scp.stored).toHaveLength(summary.sent);
      expect(new Set(scp.stored.map((s) => s.associationId)).size).toBe(3);
    } finally {
      await scp.close();
    }
  });

  it("reports a rejected association per file and exits non-zero", async () => {
    const scp = await startTestScp();
    try {
      const { code, summary } = await atriumSend([path.join(SAMPLES, "pydicom__CT_small.dcm"), "--to", `127.0.0.1:${scp.port}`, "--aet", "WRONG"]);
      expect(code).toBe(1);
      expect(summary.failed).toBe(1);
      expect(summary.outcomes[0]!.reason).toBe("association rejected (permanent): called AE title not recognized");
      expect(scp.stored).toHaveLength(0);
    } finally {
      await scp.close();
    }
  });
});
