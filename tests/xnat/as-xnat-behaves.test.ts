// XNAT as it really behaves (#20): the test server rewrites imported DICOM as dcm4che2 does, keeps
// zip entry names unless rename=true, answers file uploads 200 (never 201) with a duplicates body
// for an existing name; and Atrium's archive driver stays correct against that.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { XnatArchiveDriver } from "@/lib/archive/xnat-driver";
import { parseDicom, stringValue } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import type { XnatClient } from "@/lib/xnat";
import type { XnatTestServer } from "./server";
import { ALICE, CT_STUDY, MR_STUDY, connect, entries, fastRetry, startServer } from "./helpers";
import { studyOf } from "../archive/helpers";

let server: XnatTestServer;
let alice: XnatClient;
beforeAll(async () => {
  server = await startServer();
  alice = await connect(server);
});
afterAll(async () => {
  await alice?.close();
  await server?.close();
});

/** The DICOM files the server stored for an experiment, with their bytes. */
function storedFiles(exp: ReturnType<XnatTestServer["experimentsByLabel"]>[number]) {
  return [...exp.scans.values()].flatMap((s) => [...s.resources.get("DICOM")!.files.values()]);
}

function driver() {
  return new XnatArchiveDriver({ url: server.url, project: "P1", credentials: { username: ALICE.login, password: ALICE.password } }, { client: { retry: fastRetry, timeoutMs: 10_000 } });
}

describe("the XNAT test server behaves like XNAT", () => {
  it("rewrites imported DICOM files (sizes change, the SOP instance stays) and keeps the zip entry names", async () => {
    const files = entries(CT_STUDY).map((e, i) => ({ ...e, name: `entry-${i}.dcm` }));
    await alice.importDicomZip({ project: "P1", subject: "B_1", session: "B_1_CT", files });
    const exp = server.experimentsByLabel("P1", "B_1_CT")[0]!;
    const stored = storedFiles(exp);
    expect(stored.map((f) => f.name).sort()).toEqual(["entry-0.dcm", "entry-1.dcm"]);
    for (const f of stored) {
      const sent = readFileSync(files[Number(f.name.slice(6, 7))]!.path);
      const ds = parseDicom(new BufferSource(f.data!)).dataset;
      expect(stringValue(ds, 0x00080018)).toBe(stringValue(parseDicom(new BufferSource(sent)).dataset, 0x00080018));
      expect(f.data!.length).not.toBe(sent.length);
    }
  });

  it("names files by its SOP-hash namer with rename=true, and when a different instance holds the name", async () => {
    const files = entries(MR_STUDY.slice(0, 2)).map((e) => ({ ...e, name: "same.dcm" }));
    // two different instances under one name in separate uploads of the same session (prearchive)
    await alice.importDicomZip({ project: "P1", subject: "B_2", session: "B_2_MR", files: [files[0]!] });
    await alice.importDicomZip({ project: "P1", subject: "B_2", session: "B_2_MR", files: [files[1]!], overwrite: "append" });
    const exp = server.experimentsByLabel("P1", "B_2_MR")[0]!;
    // XNAT merges with append keeping the existing file: the second instance is lost under that name
    expect(server.filesOf(exp).map((f) => f.name)).toEqual(["same.dcm"]);
  });

  it("answers file uploads 200, never 201, and an existing name 200 with a duplicates body, keeping the old file", async () => {
    const ref = { project: "P1", subject: "B_3", experiment: "B_3_MR", resource: "NOTES" };
    await alice.putExperiment(ref, { xsiType: "xnat:mrSessionData" });
    await alice.putResource(ref);
    const url = `${server.url}/data/projects/P1/subjects/B_3/experiments/B_3_MR/resources/NOTES/files/a.txt?inbody=true`;
    const auth = { Authorization: `Basic ${Buffer.from(`${ALICE.login}:${ALICE.password}`).toString("base64")}` };
    const first = await fetch(url, { method: "PUT", headers: auth, body: "hello" });
    expect(first.status).toBe(200);
    const again = await fetch(url, { method: "PUT", headers: auth, body: "other" });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ duplicates: ["a.txt"] });
    expect((await alice.listFiles(ref)).map((f) => [f.Name, f.Size])).toEqual([["a.txt", "5"]]);
    const err = (await alice.uploadFile(ref, "a.txt", new Uint8Array(9)).catch((x: unknown) => x)) as { kind: string };
    expect(err.kind).toBe("conflict");
  });
});

describe("the archive driver against the rewriting XNAT", () => {
  it("verifies a study XNAT rewrote: instances by SOP Instance UID, sizes advisory (noted, not failed)", async () => {
    const study = studyOf(CT_STUDY, "SUBJ-B4", "b4");
    await driver().send(study);
    const v = await driver().verify(study);
    expect(v.detail).toBeUndefined();
    expect(v.ok).toBe(true);
    expect(v.found.files).toBe(2);
    expect(v.found.bytes).not.toBe(v.expected.bytes);
    expect(v.note).toMatch(/^Verified by SOP Instance UID: all 2 instances \(1 series\) are on XNAT; XNAT re-encodes DICOM headers on import: [\d,]+ bytes stored for [\d,]+ sent \(not an error\)\.$/);
  });

  it("a re-archive after new instances adds exactly the new ones (entries named by SOP Instance UID)", async () => {
    const first = studyOf(MR_STUDY.slice(0, 3), "SUBJ-B5", "b5");
    await driver().send(first);
    expect((await driver().verify(first)).ok).toBe(true);
    const before = new Map(storedFiles(server.experimentsByLabel("P1", first.experimentLabel)[0]!).map((f) => [f.name, f]));
    expect(before.size).toBe(3);
    // the new instances come first in the study's order: counter names would collide with the old ones
    const all = studyOf([...MR_STUDY.slice(3), ...MR_STUDY.slice(0, 3)], "SUBJ-B5", "b5");
    await driver().send(all);
    const exp = server.experimentsByLabel("P1", all.experimentLabel)[0]!;
    const held = server.filesOf(exp).map((f) => f.name).sort();
    expect(held).toEqual(all.instances.map((i) => `${i.sopInstanceUid}.dcm`).sort());
    // the three already there are the same stored files (kept, not replaced); exactly three were added
    const after = storedFiles(exp);
    for (const [name, f] of before) expect(after.find((x) => x.name === name)).toBe(f);
    expect(after.filter((f) => !before.has(f.name))).toHaveLength(3);
    expect((await driver().verify(all)).ok).toBe(true);
  });

  it("says so when a different instance set is on XNAT", async () => {
    const sent = studyOf(MR_STUDY.slice(0, 2), "SUBJ-B6", "b6");
    await driver().send(sent);
    const claimed = studyOf(MR_STUDY.slice(2, 4), "SUBJ-B6", "b6");
    const v = await driver().verify(claimed);
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(/2 of 2 instances missing on XNAT/);
  });

  it("with a decompressing XNAT, a compressed study verifies and the note says XNAT decompressed it; a native one only re-encoded", async () => {
    const dec = await startServer({ decompress: true });
    try {
      const d = new XnatArchiveDriver({ url: dec.url, project: "P1", credentials: { username: ALICE.login, password: ALICE.password } }, { client: { retry: fastRetry, timeoutMs: 10_000 } });
      const study = studyOf(["dicomParser__CT0012.not_fragmented_bot_rle.dcm"], "SUBJ-B7", "b7");
      expect(study.instances[0]!.transferSyntaxUid).toBe("1.2.840.10008.1.2.5");
      await d.send(study);
      const stored = storedFiles(dec.experimentsByLabel("P1", study.experimentLabel)[0]!)[0]!;
      expect(parseDicom(new BufferSource(stored.data!)).syntax.transferSyntaxUID).toBe("1.2.840.10008.1.2.1");
      const v = await d.verify(study);
      expect(v.ok).toBe(true);
      expect(v.note).toMatch(/^Verified by SOP Instance UID: the 1 instance \(1 series\) is on XNAT; this XNAT decompresses images on import: 1 of 1 series sent compressed is stored decompressed \([\d,]+ bytes for [\d,]+ sent; not an error, but they take more space there\)\.$/);
      const native = studyOf(CT_STUDY, "SUBJ-B8", "b8");
      await d.send(native);
      const w = await d.verify(native);
      expect(w.ok).toBe(true);
      expect(w.note).toMatch(/re-encodes DICOM headers/);
      expect(w.note).not.toMatch(/decompress/);
      await d.close();
    } finally {
      await dec.close();
    }
  });

  it("an XNAT that does not decompress keeps a compressed study compressed, and the note does not claim it decompressed", async () => {
    const study = studyOf(["dicomParser__CT0012.not_fragmented_bot_rle.dcm"], "SUBJ-B9", "b9");
    await driver().send(study);
    const stored = storedFiles(server.experimentsByLabel("P1", study.experimentLabel)[0]!)[0]!;
    expect(parseDicom(new BufferSource(stored.data!)).syntax.transferSyntaxUID).toBe("1.2.840.10008.1.2.5");
    const v = await driver().verify(study);
    expect(v.ok).toBe(true);
    expect(v.note ?? "").not.toMatch(/decompress/);
  });
});
