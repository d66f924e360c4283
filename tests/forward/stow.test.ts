// STOW-RS forwarding against a real Orthanc with its DICOMweb plugin: batches stored with basic
// credentials, wrong credentials and a wrong root refused with what to fix, a closed port, and the
// outbound allow-list (loopback must be listed).
import path from "node:path";
import { statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllowList } from "@/lib/outbound";
import { parseStowResponse, qidoStudyCount, stowSend, testStow } from "@/lib/forward/stow";
import { execFileSync } from "node:child_process";
import { readPart10Info } from "@/lib/dicom-net/part10";
import { startOrthanc, type OrthancProcess } from "../helpers/orthanc";
import { SAMPLES_DIR } from "@/lib/samples";
import { freePort } from "../dicom-net/helpers";

const FILES = ["dwv__bbmri-53323131.dcm", "dwv__bbmri-53323275.dcm", "dwv__bbmri-53323419.dcm", "dwv__osirix-toutatix-100.dcm", "dwv__osirix-toutatix-101.dcm"].map((f) => path.join(SAMPLES_DIR, f));
const LOOPBACK = parseAllowList("127.0.0.1");
const AUTH = { kind: "basic" as const, user: "alice", password: "wonderland" };

let orthanc: OrthancProcess;
beforeAll(async () => {
  orthanc = await startOrthanc({ dicomweb: true, users: { alice: "wonderland" } });
}, 60_000);
afterAll(async () => {
  await orthanc?.stop();
});

async function files() {
  return Promise.all(FILES.map(async (p) => ({ path: p, sizeBytes: statSync(p).size, sopInstanceUid: (await readPart10Info(p)).sopInstanceUid! })));
}

describe("STOW-RS to Orthanc", () => {
  it("stores every instance in batches and reports success per instance", async () => {
    const f = await files();
    const out = await stowSend(f, { root: `${orthanc.url}/dicom-web`, auth: AUTH, batchSize: 2, policy: LOOPBACK });
    expect(out.map((o) => o.outcome)).toEqual(f.map(() => "success"));
    const stored = (await (await orthanc.rest("/instances")).json()) as string[];
    expect(stored).toHaveLength(f.length);
  });

  it("verification: QIDO-RS counts the study's instances; a server without QIDO-RS is unsupported", async () => {
    const study = (f: string) => /\[(.*?)\]/.exec(execFileSync("dcmdump", ["+P", "0020,000d", f]).toString())![1]!;
    const mr = study(FILES[0]!);
    const expected = FILES.filter((f) => study(f) === mr).length;
    expect(await qidoStudyCount(`${orthanc.url}/dicom-web`, AUTH, mr, LOOPBACK)).toEqual({ kind: "count", count: expected });
    expect(await qidoStudyCount(`${orthanc.url}/dicom-web`, AUTH, "1.2.3.4", LOOPBACK)).toEqual({ kind: "count", count: 0 });
    expect(await qidoStudyCount(`${orthanc.url}/nothing-here`, AUTH, mr, LOOPBACK)).toEqual({ kind: "unsupported", message: "the DICOMweb server does not answer QIDO-RS study queries here (HTTP 404)" });
    expect((await qidoStudyCount(`${orthanc.url}/dicom-web`, { ...AUTH, password: "nope" }, mr, LOOPBACK)).kind).toBe("error");
  });

  it("test connection: ok with the credentials; wrong password, wrong root and a closed port say what to fix", async () => {
    expect(await testStow(`${orthanc.url}/dicom-web`, AUTH, LOOPBACK)).toMatchObject({ ok: true });
    expect((await testStow(`${orthanc.url}/dicom-web`, { ...AUTH, password: "nope" }, LOOPBACK)).message).toMatch(/HTTP 401: the receiver refused the credentials/);
    expect((await testStow(`${orthanc.url}/nothing-here`, AUTH, LOOPBACK)).message).toMatch(/HTTP 404: no DICOMweb service at this URL/);
    expect((await testStow(`http://127.0.0.1:${await freePort()}/dicom-web`, AUTH, LOOPBACK)).message).toMatch(/ECONNREFUSED/);
  });

  it("does not connect to loopback unless the site allows it", async () => {
    const r = await testStow(`${orthanc.url}/dicom-web`, AUTH, parseAllowList(""));
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/ATRIUM_OUTBOUND_ALLOW/);
    const f = await files();
    const out = await stowSend(f.slice(0, 1), { root: `${orthanc.url}/dicom-web`, auth: AUTH, policy: parseAllowList("") });
    expect(out[0]).toMatchObject({ outcome: "failed" });
    expect(out[0]!.reason).toMatch(/ATRIUM_OUTBOUND_ALLOW/);
  });
});

describe("STOW-RS answers", () => {
  it("reads failures and warnings per instance", () => {
    const body = JSON.stringify({
      "00081198": { vr: "SQ", Value: [{ "00081155": { vr: "UI", Value: ["1.2"] }, "00081197": { vr: "US", Value: [0xa700] } }] },
      "00081199": { vr: "SQ", Value: [{ "00081155": { vr: "UI", Value: ["1.1"] } }, { "00081155": { vr: "UI", Value: ["1.3"] }, "00081196": { vr: "US", Value: [0xb000] } }] },
    });
    expect(parseStowResponse(202, body, ["1.1", "1.2", "1.3", "1.4"])).toEqual([
      { sopInstanceUid: "1.1", outcome: "success" },
      { sopInstanceUid: "1.2", outcome: "failed", status: 0xa700, reason: "the receiver refused it (failure reason 0xA700)" },
      { sopInstanceUid: "1.3", outcome: "warning", status: 0xb000, reason: "stored with warning 0xB000" },
      { sopInstanceUid: "1.4", outcome: "failed", status: 202, reason: "the receiver answered HTTP 202 without naming this instance" },
    ]);
  });
});
