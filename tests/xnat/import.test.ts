// The import service with real DICOM (parsed by the test server), the archive/prearchive flows,
// overwrite modes, the silent project fallback, and the wire details of the import call.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type XnatClient, XnatError } from "@/lib/xnat";
import { ADMIN, BOB, CAROL, CT_SINGLE, CT_STUDY, connect, entries, MR_STUDY, rewriteSamples, SAMPLES, startServer, totalBytes } from "./helpers";
import type { XnatTestServer } from "./server";

const MR_STUDY_UID = "1.3.12.2.1107.5.2.32.35162.30000012020622041507900000157";
const MR_SERIES_UID = "1.3.12.2.1107.5.2.32.35162.2012021515542222914355135.0.0.0";

let server: XnatTestServer;
let alice: XnatClient;
beforeAll(async () => {
  server = await startServer();
  server.addProject("CAROLP", { members: ["carol"] });
  server.addProject("AUTO", { owners: ["alice"], prearchiveCode: 4 });
  alice = await connect(server);
});
afterAll(async () => {
  await alice.close();
  await server.close();
});

describe("DICOM-zip into the archive", () => {
  test("a 6-instance MR study lands as one experiment, one scan, 6 files, rewritten by XNAT as dcm4che2 does", async () => {
    const r = await alice.importDicomZip({ project: "P1", subject: "PSEUDO_001", session: "PSEUDO_001_MR1", files: entries(MR_STUDY) });
    expect(r.attempts).toBe(1);
    expect(r.overwriteUsed).toBe("none");
    expect(r.manifest).toEqual({ files: 6, bytes: totalBytes(MR_STUDY) });
    expect(r.experiment).toMatchObject({ project: "P1" });
    expect(r.experiment!.experiment).toMatch(/^XNAT_E\d{5}$/);
    expect(r.experiment!.subject).toMatch(/^XNAT_S\d{5}$/);

    // what went over the wire
    const call = server.callsTo("POST", "/data/services/import").at(-1)!;
    expect(call.contentType).toBe("application/zip");
    expect(call.query).toMatchObject({
      "import-handler": "DICOM-zip",
      project: "P1",
      subject: "PSEUDO_001",
      session: "PSEUDO_001_MR1",
      prevent_anon: "true",
      overwrite: "none",
      dest: "/archive/projects/P1",
    });

    const exp = (await alice.getExperiment({ project: "P1", subject: "PSEUDO_001", experiment: "PSEUDO_001_MR1" }))!;
    expect(exp).toMatchObject({ id: r.experiment!.experiment, label: "PSEUDO_001_MR1", xsiType: "xnat:mrSessionData", uid: MR_STUDY_UID });
    expect(exp.scans).toHaveLength(1);
    expect(exp.scans[0]).toMatchObject({ id: "4", uid: MR_SERIES_UID, xsiType: "xnat:mrScanData" });
    expect(exp.scans[0]!.resources[0]).toMatchObject({ label: "DICOM", format: "DICOM", content: "RAW", fileCount: 6 });

    const files = await alice.listFiles({ project: "P1", experiment: exp.id, scan: "4", resource: "DICOM" });
    // unnamed entries are sent with rename=true: XNAT's SOP-hash namer names them
    expect(call.query.rename).toBe("true");
    for (const f of files) expect(f.Name.startsWith(`${MR_STUDY_UID}-4-`)).toBe(true);
    // XNAT re-encodes the headers (prevent_anon: no anonymization, but dcm4che2 rewrites): the pixel data is kept
    const one = await alice.downloadFile({ project: "P1", experiment: exp.id, scan: "4", resource: "DICOM" }, files[0]!.Name);
    expect(MR_STUDY.some((f) => readFileSync(path.join(SAMPLES, f)).subarray(-4096).equals(one.subarray(-4096)))).toBe(true);
    void statSync;

    const v = await alice.verifyExperiment(
      { project: "P1", experiment: "PSEUDO_001_MR1" },
      { files: 6, bytes: totalBytes(MR_STUDY), scans: [{ uid: MR_SERIES_UID, files: 6, bytes: totalBytes(MR_STUDY) }] },
    );
    expect(v).toMatchObject({ ok: true, files: 6, problems: [] });
    // and verification notices what is missing
    const bad = await alice.verifyExperiment({ project: "P1", experiment: "PSEUDO_001_MR1" }, { files: 7, bytes: totalBytes(MR_STUDY) + 1 });
    expect(bad.ok).toBe(false);
    expect(bad.problems).toEqual([`files: XNAT has 6, expected 7`]);
  });

  test("two series in one study become two scans with their own counts and sizes", async () => {
    const files = await rewriteSamples(MR_STUDY, (ds, i) => {
      if (i >= 3) {
        ds.SeriesInstanceUID = "2.25.1000001";
        ds.SeriesNumber = "5";
        ds.SeriesDescription = "second series";
      }
    });
    const r = await alice.importDicomZip({ project: "P1", subject: "PSEUDO_002", session: "PSEUDO_002_MR1", files, compressionLevel: 6 });
    const first = files.slice(0, 3).reduce((n, f) => n + f.size, 0);
    const second = files.slice(3).reduce((n, f) => n + f.size, 0);
    const v = await alice.verifyExperiment(
      { project: "P1", experiment: r.experiment!.experiment },
      { files: 6, bytes: first + second, scans: [{ uid: MR_SERIES_UID, files: 3, bytes: first }, { uid: "2.25.1000001", files: 3, bytes: second }] },
    );
    expect(v.ok).toBe(true);
    expect(v.scans.map((s) => s.id).sort()).toEqual(["4", "5"]);
    const scans = await alice.listScans({ project: "P1", experiment: r.experiment!.experiment });
    expect(scans.find((s) => s.ID === "5")?.series_description).toBe("second series");
  });

  test("overwrite none refuses an existing experiment before sending anything", async () => {
    const before = server.callsTo("POST", "/data/services/import").length;
    const err = (await alice.importDicomZip({ project: "P1", subject: "PSEUDO_001", session: "PSEUDO_001_MR1", files: entries(MR_STUDY) }).catch((e: unknown) => e)) as XnatError;
    expect(err).toBeInstanceOf(XnatError);
    expect(err.kind).toBe("conflict");
    expect(err.message).toMatch(/already exists.*append/);
    expect(server.callsTo("POST", "/data/services/import").length).toBe(before);
  });

  test("append merges new instances into the same experiment without duplicating the old ones; delete replaces", async () => {
    const ref = { project: "P1", experiment: "PSEUDO_003_MR1" };
    const r1 = await alice.importDicomZip({ project: "P1", subject: "PSEUDO_003", session: "PSEUDO_003_MR1", files: entries(MR_STUDY.slice(0, 4)) });
    expect((await alice.verifyExperiment(ref, { files: 4, bytes: totalBytes(MR_STUDY.slice(0, 4)) })).ok).toBe(true);
    const r2 = await alice.importDicomZip({ project: "P1", subject: "PSEUDO_003", session: "PSEUDO_003_MR1", files: entries(MR_STUDY), overwrite: "append" });
    expect(r2.experiment!.experiment).toBe(r1.experiment!.experiment);
    expect((await alice.verifyExperiment(ref, { files: 6, bytes: totalBytes(MR_STUDY) })).ok).toBe(true);
    const r3 = await alice.importDicomZip({ project: "P1", subject: "PSEUDO_003", session: "PSEUDO_003_MR1", files: entries(MR_STUDY), overwrite: "delete" });
    expect(r3.experiment!.experiment).toBe(r1.experiment!.experiment);
    expect((await alice.verifyExperiment(ref, { files: 6, bytes: totalBytes(MR_STUDY) })).ok).toBe(true);
    expect(server.experimentsByLabel("P1", "PSEUDO_003_MR1")).toHaveLength(1);
  });

  test("an experiment created meanwhile by someone else: XNAT's 'Failed to archive' becomes a conflict, session left in the prearchive", async () => {
    server.inject({ method: "POST", path: "/data/services/import", kind: "slow", delayMs: 300 });
    const racing = alice.importDicomZip({ project: "P1", subject: "PSEUDO_004", session: "PSEUDO_004_CT1", files: entries(CT_STUDY) });
    await new Promise((r) => setTimeout(r, 100));
    const admin = await connect(server, ADMIN);
    await admin.putExperiment({ project: "P1", subject: "PSEUDO_004", experiment: "PSEUDO_004_CT1" }, { xsiType: "xnat:ctSessionData" });
    const err = (await racing.catch((e: unknown) => e)) as XnatError;
    expect(err.kind).toBe("conflict");
    expect(err.serverMessage).toBe("Failed to archive 1 of 1 session(s)");
    const left = (await alice.listPrearchive("P1")).filter((s) => s.name === "PSEUDO_004_CT1");
    expect(left.map((s) => s.status)).toEqual(["CONFLICT"]);
    // resolved by archiving with append
    const ref = { project: left[0]!.project, timestamp: left[0]!.timestamp, folder: left[0]!.folderName };
    const uri = await alice.archivePrearchiveSession(ref, { overwrite: "append" });
    expect(uri.kind).toBe("archive");
    expect((await alice.verifyExperiment({ project: "P1", experiment: "PSEUDO_004_CT1" }, { files: 2, bytes: totalBytes(CT_STUDY) })).ok).toBe(true);
    await admin.close();
  });

  test("labels are checked before anything is sent", async () => {
    const err = (await alice.importDicomZip({ project: "P1", subject: "bad label", session: "S", files: entries(CT_SINGLE) }).catch((e: unknown) => e)) as XnatError;
    expect(err.kind).toBe("usage");
    expect(err.message).toMatch(/subject must be/);
    expect(((await alice.importDicomZip({ project: "P1", subject: "S", session: "S", files: [] }).catch((e: unknown) => e)) as XnatError).kind).toBe("usage");
  });
});

describe("the silent project fallback", () => {
  test("a project the account cannot even see is reported before any byte is sent", async () => {
    const carol = await connect(server, CAROL);
    const before = server.callsTo("POST", "/data/services/import").length;
    const err = (await carol.importDicomZip({ project: "P1", subject: "X0", session: "X0_CT", files: entries(CT_SINGLE) }).catch((e: unknown) => e)) as XnatError;
    expect(err.kind).toBe("not-found");
    expect(server.callsTo("POST", "/data/services/import").length).toBe(before);
    await carol.close();
  });

  test("no create rights in the project: XNAT puts it in Unassigned; the client says so and where", async () => {
    const bob = await connect(server, BOB); // collaborator: may read P1, not create
    const err = (await bob.importDicomZip({ project: "P1", subject: "X1", session: "X1_CT", files: entries(CT_SINGLE) }).catch((e: unknown) => e)) as XnatError;
    expect(err.kind).toBe("fallback");
    expect(err.uris).toHaveLength(1);
    expect(err.uris![0]).toMatch(/^\/data\/prearchive\/projects\/Unassigned\/\d{8}_\d{9}\/X1_CT$/);
    expect(err.message).toMatch(/Member or Owner of P1/);
    expect(server.experimentsByLabel("P1", "X1_CT")).toHaveLength(0);
    await bob.close();
  });

  test("…or routes by DICOM (Patient Comments 'Project: …') to a project the account can write", async () => {
    const files = await rewriteSamples(CT_STUDY, (ds) => {
      ds.PatientComments = "Project: CAROLP Subject: ignored Session: ignored";
    });
    const carol = await connect(server, CAROL); // cannot see P1; with append there is no pre-check
    const err = (await carol.importDicomZip({ project: "P1", subject: "X2", session: "X2_CT", files, overwrite: "append" }).catch((e: unknown) => e)) as XnatError;
    expect(err.kind).toBe("fallback");
    expect(err.uris![0]).toMatch(/^\/data\/prearchive\/projects\/CAROLP\//);
    const rows = await carol.listPrearchive("CAROLP");
    expect(rows.map((r) => [r.subject, r.name])).toEqual([["X2", "X2_CT"]]); // explicit subject/session still apply
    await carol.close();
  });
});

describe("DICOM routing rules of the test server (§4.4), without explicit parameters", () => {
  test("Study Description, then Accession Number, name a project; Subject:/Session: assignments; else Patient Name/ID; else Unassigned", async () => {
    const cookie = `JSESSIONID=${alice.transport.sessionId}`;
    const { dicomZipStream } = await import("@/lib/xnat");
    server.addProject("ROUTE1", { members: ["alice"] });
    server.addProject("ROUTE2", { members: ["alice"] });
    const send = async (change: (ds: Record<string, unknown>) => void, raw: Record<string, { vr: string; Value: unknown[] }> = {}) => {
      const files = await rewriteSamples(CT_SINGLE, change, raw);
      const body = Buffer.from(await new Response(dicomZipStream(files)).arrayBuffer());
      const res = await fetch(`${server.url}/data/services/import?import-handler=DICOM-zip`, { method: "POST", body, headers: { Cookie: cookie, "Content-Type": "application/zip" } });
      expect(res.status).toBe(200);
      return (await res.text()).trim();
    };
    expect(await send((ds) => Object.assign(ds, { StudyDescription: "ROUTE1", PatientComments: "", AccessionNumber: "" }))).toMatch(/^\/data\/prearchive\/projects\/ROUTE1\//);
    expect(await send((ds) => Object.assign(ds, { StudyDescription: "unknown", AccessionNumber: "ROUTE2", PatientComments: "" }))).toMatch(/^\/data\/prearchive\/projects\/ROUTE2\//);
    // Study Comments (0032,4000), retired, set raw: assignments separated by ';' and ','
    const uri = await send((ds) => Object.assign(ds, { StudyDescription: "", AccessionNumber: "", PatientComments: "", PatientName: "DOE^JOHN" }), {
      "00324000": { vr: "LT", Value: ["Project:ROUTE1; Subject: SC_1, Session:SC_1_CT"] },
    });
    expect(uri).toMatch(/^\/data\/prearchive\/projects\/ROUTE1\/\d{8}_\d{9}\/SC_1_CT$/);
    expect((await alice.listPrearchive("ROUTE1")).find((r) => r.name === "SC_1_CT")?.subject).toBe("SC_1");
    const fallback = await send((ds) => Object.assign(ds, { StudyDescription: "", AccessionNumber: "", PatientComments: "", PatientName: "PN_X", PatientID: "PID_X" }));
    expect(fallback).toMatch(/^\/data\/prearchive\/projects\/Unassigned\/\d{8}_\d{9}\/PID_X$/);
    const row = (await alice.listPrearchive("Unassigned")).find((r) => r.name === "PID_X");
    expect(row?.subject).toBe("PN_X");
  });
});

describe("the prearchive", () => {
  test("a zip of two studies gives two prearchive sessions (CRLF uri-list); rows have XNAT's fields; archive one", async () => {
    const r = await alice.importDicomZip({ project: "P2", subject: "PSEUDO_010", session: "PSEUDO_010_S", destination: "prearchive", files: entries([...MR_STUDY, ...CT_STUDY]) });
    expect(r.prearchive).toHaveLength(2);
    expect(r.experiment).toBeUndefined();
    const rows = await alice.listPrearchive("P2");
    expect(rows).toHaveLength(2);
    const row = rows.find((x) => x.tag === MR_STUDY_UID)!;
    expect(Object.keys(row).sort()).toEqual(
      ["PROTOCOL", "SOURCE", "TIMEZONE", "VISIT", "autoarchive", "folderName", "lastmod", "name", "prevent_anon", "prevent_auto_commit", "project", "scan_date", "scan_time", "status", "subject", "tag", "timestamp", "uploaded", "url"].sort(),
    );
    expect(row).toMatchObject({ project: "P2", subject: "PSEUDO_010", name: "PSEUDO_010_S", folderName: "PSEUDO_010_S", status: "READY", prevent_anon: "true", SOURCE: "atrium" });
    expect(row.url).toBe(`/prearchive/projects/P2/${row.timestamp}/PSEUDO_010_S`);
    expect(row.timestamp).toMatch(/^\d{8}_\d{9}$/);
    expect(row.uploaded).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);
    const ref = { project: "P2", timestamp: row.timestamp, folder: row.folderName };
    expect(await alice.getPrearchiveSession(ref)).toMatchObject({ tag: MR_STUDY_UID });
    expect((await alice.listPrearchiveScans(ref)).map((s) => s.ID)).toEqual(["4"]);
    expect((await alice.buildPrearchiveSession(ref))[0]).toMatchObject({ kind: "prearchive", folder: "PSEUDO_010_S" });

    const uri = await alice.archivePrearchiveSession(ref, { subject: "PSEUDO_010", session: "PSEUDO_010_MR" });
    expect(uri.kind).toBe("archive");
    expect(await alice.getPrearchiveSession(ref)).toBeNull();
    expect((await alice.verifyExperiment({ project: "P2", experiment: "PSEUDO_010_MR" }, { files: 6, bytes: totalBytes(MR_STUDY) })).ok).toBe(true);

    // the other one: move it to P1 (alice may create there), then commit in an auto-archive project
    const ct = (await alice.listPrearchive("P2"))[0]!;
    const moved = await alice.movePrearchiveSession({ project: "P2", timestamp: ct.timestamp, folder: ct.folderName }, "AUTO");
    expect(moved).toEqual({ project: "AUTO", timestamp: ct.timestamp, folder: ct.folderName });
    expect(await alice.listPrearchive("P2")).toEqual([]);
    const committed = await alice.commitPrearchiveSession(moved);
    expect(committed.kind).toBe("archive");
    expect(server.callsTo("POST", `/data/prearchive/projects/AUTO/${ct.timestamp}/${ct.folderName}`).at(-1)!.status).toBe(301);
    expect((await alice.verifyExperiment({ project: "AUTO", experiment: "PSEUDO_010_S" }, { files: 2, bytes: totalBytes(CT_STUDY) })).ok).toBe(true);
  });

  test("a locked session answers 409; Unassigned cannot be archived; moving needs rights in the target", async () => {
    const r = await alice.importDicomZip({ project: "P1", subject: "PSEUDO_011", session: "PSEUDO_011_CT", destination: "prearchive", files: entries(CT_SINGLE) });
    const ref = r.prearchive![0]!;
    server.lockPrearchive("P1", "PSEUDO_011_CT");
    const locked = (await alice.buildPrearchiveSession(ref).catch((e: unknown) => e)) as XnatError;
    expect(locked.kind).toBe("conflict");
    expect(locked.status).toBe(409);
    server.lockPrearchive("P1", "PSEUDO_011_CT", false);
    const carol = await connect(server, CAROL);
    const noRights = (await alice.movePrearchiveSession(ref, "CAROLP").catch((e: unknown) => e)) as XnatError;
    expect(noRights.status).toBe(403);
    // batch move into P2, then delete
    await alice.movePrearchiveSessions([ref], "P2");
    const inP2 = (await alice.listPrearchive("P2")).find((x) => x.name === "PSEUDO_011_CT")!;
    expect(inP2).toBeTruthy();
    await alice.deletePrearchiveSession({ project: "P2", timestamp: inP2.timestamp, folder: inP2.folderName });
    expect((await alice.listPrearchive("P2")).find((x) => x.name === "PSEUDO_011_CT")).toBeUndefined();

    await carol.close();
    const bob = await connect(server, BOB);
    const lost = (await bob.importDicomZip({ project: "P1", subject: "U1", session: "U1_CT", destination: "prearchive", files: entries(CT_SINGLE) }).catch((e: unknown) => e)) as XnatError;
    expect(lost.kind).toBe("fallback");
    const u = lost.uris![0]!.split("/");
    const unassigned = { project: "Unassigned", timestamp: u[5]!, folder: u[6]! };
    expect((await bob.listPrearchive("Unassigned")).map((r) => r.name)).toContain("U1_CT");
    const e = (await bob.archivePrearchiveSession(unassigned).catch((x: unknown) => x)) as XnatError;
    expect(e.status).toBe(400);
    expect(e.serverMessage).toBe("Cannot archive sessions from the Unassigned folder.");
    await bob.close();
  });
});

describe("the import service as XNAT answers it (raw HTTP)", () => {
  let cookie: string;
  beforeAll(() => {
    cookie = `JSESSIONID=${alice.transport.sessionId}`;
  });
  const post = (query: string, body: BodyInit | undefined, type?: string) =>
    fetch(`${server.url}/data/services/import?${query}`, { method: "POST", body, headers: { Cookie: cookie, ...(type ? { "Content-Type": type } : {}) } });

  test("tar.gz upload, text/uri-list with CRLF", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "atrium-xnat-tgz-"));
    const tgz = path.join(dir, "study.tar.gz");
    execFileSync("tar", ["-czf", tgz, "-C", SAMPLES, ...CT_STUDY]);
    const res = await post("import-handler=DICOM-zip&project=P1&subject=T1&session=T1_CT&dest=/archive/projects/P1&prevent_anon=true", readFileSync(tgz), "application/x-gzip");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/uri-list/);
    const body = await res.text();
    expect(body).toMatch(/^\/data\/archive\/projects\/P1\/subjects\/XNAT_S\d{5}\/experiments\/XNAT_E\d{5}\r\n$/);
    expect((await alice.verifyExperiment({ project: "P1", experiment: "T1_CT" }, { files: 2, bytes: totalBytes(CT_STUDY) })).ok).toBe(true);
  });

  test("refusals: GET, unknown handler, no body, x-zip-compressed, two files, unparsable without Ignore-Unparsable", async () => {
    const zip = readFileSync(path.join(SAMPLES, CT_SINGLE[0]!));
    expect((await fetch(`${server.url}/data/services/import`, { headers: { Cookie: cookie } })).status).toBe(405);
    expect((await post("import-handler=NOPE", zip, "application/zip")).status).toBe(404);
    const none = await post("import-handler=DICOM-zip&project=P1", undefined);
    expect(none.status).toBe(400);
    expect(await none.text()).toContain("Unable to identify upload format.");
    expect((await post("import-handler=DICOM-zip&project=P1", zip, "application/x-zip-compressed")).status).toBe(400);
    const form = new FormData();
    form.append("a", new Blob([zip]), "a.zip");
    form.append("b", new Blob([zip]), "b.zip");
    const two = await post("import-handler=DICOM-zip", form);
    expect(two.status).toBe(400);
    expect(await two.text()).toContain("Importer is limited to one uploaded resource at a time.");
    expect((await fetch(`${server.url}/data/services/import?import-handler=DICOM-zip`, { method: "POST" })).status).toBe(401);
  });

  test("an unparsable entry fails the upload unless ignored; with dest it is skipped", async () => {
    const { dicomZipStream } = await import("@/lib/xnat");
    const mixed = [...entries(CT_STUDY), { data: new TextEncoder().encode("not dicom"), name: "zz-readme.txt" }];
    const zipBytes = async () => Buffer.from(await new Response(dicomZipStream(mixed)).arrayBuffer());
    const strict = await post("import-handler=DICOM-zip&project=P1&subject=T2&session=T2_CT", await zipBytes(), "application/zip");
    expect(strict.status).toBe(400);
    // the files before the bad one stay in the prearchive
    expect((await alice.listPrearchive("P1")).filter((r) => r.name === "T2_CT")).toHaveLength(1);
    const lenient = await alice.importDicomZip({ project: "P1", subject: "T3", session: "T3_CT", files: mixed });
    expect((await alice.verifyExperiment({ project: "P1", experiment: lenient.experiment!.experiment }, { files: 2, bytes: totalBytes(CT_STUDY) })).ok).toBe(true);
  });

  test("gradual-DICOM: single instances of one study gather in one RECEIVING session", async () => {
    for (const f of CT_STUDY) {
      const res = await fetch(`${server.url}/data/services/import?PROJECT_ID=P2&SUBJECT_ID=G1&EXPT_LABEL=G1_CT`, {
        method: "POST",
        body: readFileSync(path.join(SAMPLES, f)),
        headers: { Cookie: cookie, "Content-Type": "application/dicom" },
      });
      expect(res.status).toBe(200);
    }
    const rows = (await alice.listPrearchive("P2")).filter((r) => r.name === "G1_CT");
    expect(rows.map((r) => r.status)).toEqual(["RECEIVING"]);
    const files = await fetch(`${server.url}/data${rows[0]!.url}/scans/4/resources/DICOM/files?format=json`, { headers: { Cookie: cookie } });
    expect(((await files.json()) as { ResultSet: { Result: unknown[] } }).ResultSet.Result).toHaveLength(2);
  });
});
