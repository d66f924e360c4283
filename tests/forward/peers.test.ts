// Forwarding's DICOM pieces against a real DCMTK storescp: a receiver that accepts Implicit VR
// Little Endian only gets the Explicit VR files re-encoded (the fallback), a compressed file it
// refuses fails with a reason that says what to configure, and C-ECHO says what to fix.
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendDicom } from "@/lib/dicom-net/scu";
import { cEcho } from "@/lib/dicom-net/echo";
import { readPart10Info } from "@/lib/dicom-net/part10";
import { TS } from "@/lib/dicom-net/uids";
import { planDelivery, summarizeFailures, forwardJobDecision, verificationOutcome } from "@/lib/forward/state";
import { findStudyInstanceCount } from "@/lib/dicom-net/find";
import { destinationFields } from "@/lib/forward/schema";
import { freePort, SAMPLES, tempDir } from "../dicom-net/helpers";
import { waitForPort } from "../helpers/wait";

const MR = ["dwv__bbmri-53323131.dcm", "dwv__bbmri-53323275.dcm"].map((f) => path.join(SAMPLES, f));
const JPEG = path.join(SAMPLES, "dicomParser__IM00001.fragmented_no_bot_jpeg_baseline.50.dcm");

let out = "";
let port = 0;
let child: ReturnType<typeof spawn> | undefined;
beforeAll(async () => {
  out = await tempDir("forward-storescp");
  port = await freePort();
  // +xi: accept Implicit VR Little Endian only
  child = spawn("storescp", ["+xi", "-pm", "-od", out, "-aet", "STORESCP", String(port)], { env: { ...process.env, TCP_NODELAY: "1" }, stdio: "ignore" });
  await waitForPort(port, "storescp to listen");
});
afterAll(() => {
  child?.kill("SIGTERM");
});

describe("C-STORE to a receiver that refuses the files' syntaxes", () => {
  it("re-encodes Explicit VR files to Implicit VR Little Endian; a refused compressed file fails with what to configure", async () => {
    for (const f of MR) expect((await readPart10Info(f)).transferSyntaxUid).toBe(TS.ExplicitVRLittleEndian);
    const summary = await sendDicom([...MR, JPEG], { host: "127.0.0.1", port, calledAe: "STORESCP", callingAe: "ATRIUM" });
    const byPath = new Map(summary.outcomes.map((o) => [o.path, o]));
    for (const f of MR) expect(byPath.get(f)).toMatchObject({ outcome: "sent", converted: true });
    expect(byPath.get(JPEG)!.outcome).toBe("failed");
    expect(byPath.get(JPEG)!.reason).toMatch(/^peer refused transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50 \(compressed data is not transcoded: configure the receiver/);
    const stored = await readdir(out);
    expect(stored).toHaveLength(2);
    for (const s of stored) expect((await readPart10Info(path.join(out, s))).transferSyntaxUid).toBe(TS.ImplicitVRLittleEndian);
  });
});

describe("C-STORE of files whose framing is read as they are sent (the forward worker's way)", () => {
  it("re-encodes them as the scanned ones; a compressed file without a context in the first association is refused in the next with what to configure", async () => {
    const files = [...Array.from({ length: 6 }, () => MR).flat(), JPEG];
    const summary = await sendDicom({ unscanned: files.map((f) => ({ path: f, sizeBytes: 0 })) }, { host: "127.0.0.1", port, calledAe: "STORESCP", callingAe: "ATRIUM" });
    expect(summary.outcomes).toHaveLength(files.length);
    for (const o of summary.outcomes.filter((o) => o.path !== JPEG)) expect(o).toMatchObject({ outcome: "sent", converted: true });
    const jpeg = summary.outcomes.find((o) => o.path === JPEG)!;
    expect(jpeg.outcome).toBe("failed");
    expect(jpeg.reason).toMatch(/^peer refused transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50 \(compressed data is not transcoded: configure the receiver/);
    expect(summary.associations).toBe(2);
  });
});

describe("C-ECHO (Test connection)", () => {
  it("succeeds against storescp", async () => {
    const r = await cEcho({ host: "127.0.0.1", port, calledAe: "STORESCP", callingAe: "ATRIUM" });
    expect(r).toMatchObject({ ok: true });
  });
  it("says nothing listens on a closed port", async () => {
    const r = await cEcho({ host: "127.0.0.1", port: await freePort(), calledAe: "STORESCP", callingAe: "ATRIUM" });
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/nothing listens on that port: check the host and port/);
  });
});

describe("verification", () => {
  it("storescp does not answer C-FIND: unsupported, which leaves a forward sent, not verified", async () => {
    const r = await findStudyInstanceCount({ host: "127.0.0.1", port, calledAe: "STORESCP", callingAe: "ATRIUM", studyInstanceUid: "1.2.3" });
    expect(r).toEqual({ kind: "unsupported", message: `STORESCP at 127.0.0.1:${port} does not answer C-FIND queries (Study Root)` });
    expect(verificationOutcome(6, r)).toEqual({ state: "sent", note: `sent, not verified: ${r.kind === "unsupported" ? r.message : ""}` });
  });
  it("fewer at the receiver is a failure with the numbers; more is verified; an unanswered question is a failure", () => {
    expect(verificationOutcome(6, { kind: "count", count: 5 })).toEqual({
      error: "Verification failed: the receiver holds 5 instances of the study, 6 were delivered. Check the receiver's storage and logs (it may have dropped or merged instances); the retry asks again.",
    });
    expect(verificationOutcome(6, { kind: "count", count: 6 })).toEqual({ state: "verified", note: "the receiver holds 6 instances of the study, as delivered" });
    expect(verificationOutcome(6, { kind: "count", count: 8 })).toMatchObject({ state: "verified" });
    expect(verificationOutcome(6, { kind: "error", message: "could not ask x" })).toMatchObject({ error: expect.stringMatching(/^Sent, but the verification failed: could not ask x/) });
    expect(verificationOutcome(0, null)).toEqual({ state: "verified", note: "nothing to send: the filter excluded every instance" });
  });
});

describe("delivery planning", () => {
  it("never sends an instance twice to a destination: success, warning and filtered are final, failed is sent again", () => {
    const rec = new Map([
      ["1.1", "success"],
      ["1.2", "warning"],
      ["1.3", "failed"],
      ["1.4", "filtered"],
    ] as const);
    const plan = planDelivery([{ sopInstanceUid: "1.1" }, { sopInstanceUid: "1.2" }, { sopInstanceUid: "1.3" }, { sopInstanceUid: "1.4" }, { sopInstanceUid: "1.5" }, { sopInstanceUid: "1.5" }], rec);
    expect(plan.toSend.map((i) => i.sopInstanceUid)).toEqual(["1.3", "1.5"]);
    expect(plan.done.map((i) => i.sopInstanceUid)).toEqual(["1.1", "1.2", "1.4"]);
  });
  it("summarizes failures by reason", () => {
    expect(summarizeFailures([{ reason: "0xA700 refused: out of resources" }, { reason: "0xA700 refused: out of resources" }, { reason: null }], 10)).toBe(
      "3 of 10 instances were not delivered: 2× 0xA700 refused: out of resources; 1× no reason given.",
    );
  });
  it("uses the archive's job decisions (a verified forward is done)", () => {
    const now = new Date();
    expect(forwardJobDecision({ state: "queued", attempts: 0, nextAttemptAt: null }, 1, now)).toBe("start");
    expect(forwardJobDecision({ state: "sending", attempts: 2, nextAttemptAt: null }, 2, now)).toBe("resume");
    expect(forwardJobDecision({ state: "verified", attempts: 1, nextAttemptAt: null }, 2, now)).toBe("stale");
  });
});

describe("destination fields", () => {
  it("refuses a bad filter with the rule parser's message, and a long AE title", () => {
    const bad = destinationFields.safeParse({ kind: "dicom", name: "PACS", host: "pacs.example.org", port: 104, calledAe: "PACS", filter: 'Modality == "MR' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.message).toMatch(/^Filter: At column/);
    const ae = destinationFields.safeParse({ kind: "dicom", name: "PACS", host: "pacs.example.org", port: 104, calledAe: "A".repeat(17) });
    expect(ae.error!.issues[0]!.message).toMatch(/at most 16 characters/);
    const ok = destinationFields.parse({ kind: "dicom", name: "PACS", host: "pacs.example.org", port: 104, calledAe: "PACS", filter: 'Modality == "MR"' });
    expect(ok).toMatchObject({ callingAe: "ATRIUM", associations: 1, trigger: "archived", enabled: true });
  });
  it("asks for a user with basic authentication", () => {
    const r = destinationFields.safeParse({ kind: "stow", name: "Web", stowUrl: "https://pacs.example.org/dicom-web", authKind: "basic", secret: "pw" });
    expect(r.error!.issues[0]!.message).toBe("Enter the user name for basic authentication.");
  });
});
