// Projects, subjects, experiments, scans, resources and files over real HTTP, with XNAT's
// 201-vs-200 answers, accession ids, label search and project roles.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { XnatClient, XnatError } from "@/lib/xnat";
import { ADMIN, BOB, CAROL, connect, startServer } from "./helpers";
import type { XnatTestServer } from "./server";

let server: XnatTestServer;
let alice: XnatClient;
beforeAll(async () => {
  server = await startServer();
  alice = await connect(server);
});
afterAll(async () => {
  await alice.close();
  await server.close();
});

describe("projects", () => {
  test("PUT creates (201) then updates (200); listing, item, accessibility, prearchive code", async () => {
    const first = await alice.putProject("NEWP", { name: "New project", description: "d" });
    expect(first).toEqual({ id: "NEWP", created: true });
    const again = await alice.putProject("NEWP", { name: "Renamed" });
    expect(again).toEqual({ id: "NEWP", created: false });
    const rows = await alice.listProjects();
    const row = rows.find((p) => p.ID === "NEWP")!;
    expect(row).toMatchObject({ ID: "NEWP", secondary_ID: "NEWP", name: "Renamed", URI: "/data/projects/NEWP" });
    expect(Object.keys(row).sort()).toEqual(["ID", "URI", "description", "name", "pi_firstname", "pi_lastname", "secondary_ID"]);
    const item = await alice.getProject("NEWP");
    expect(item?.meta["xsi:type"]).toBe("xnat:projectData");
    expect(await alice.getProject("NOPE")).toBeNull();

    expect(await alice.getAccessibility("NEWP")).toBe("private");
    await alice.setAccessibility("NEWP", "protected");
    expect(await alice.getAccessibility("NEWP")).toBe("protected");
    expect(await alice.getPrearchiveCode("NEWP")).toBe(0);
    await alice.setPrearchiveCode("NEWP", 4);
    expect(await alice.getPrearchiveCode("NEWP")).toBe(4);
  });

  test("role filters of the project listing; a private project is invisible to outsiders", async () => {
    const bob = await connect(server, BOB);
    const carol = await connect(server, CAROL);
    expect((await bob.listProjects("collaborator")).map((p) => p.ID)).toEqual(["P1"]);
    expect(await bob.myRole("P1")).toBe("collaborator");
    expect((await carol.listProjects()).map((p) => p.ID)).not.toContain("P1");
    expect((await carol.listProjects()).map((p) => p.ID)).toContain("PUB");
    expect(await carol.getProject("P1")).toBeNull();
    await bob.close();
    await carol.close();
  });
});

describe("subjects and experiments", () => {
  test("subject PUT answers 201 with a new accession id, then 200 with the same id", async () => {
    const a = await alice.putSubject("P1", "SUBJ_A", { group: "control" });
    expect(a.created).toBe(true);
    expect(a.id).toMatch(/^XNAT_S\d{5}$/);
    const b = await alice.putSubject("P1", "SUBJ_A");
    expect(b).toEqual({ id: a.id, created: false });
    const put = server.callsTo("PUT", "/data/projects/P1/subjects/SUBJ_A").map((r) => r.status);
    expect(put).toEqual([201, 200]);
    const item = await alice.getSubject("P1", "SUBJ_A");
    expect(item?.data_fields).toMatchObject({ ID: a.id, label: "SUBJ_A", group: "control" });
    expect(await alice.getSubject("P1", "NOPE")).toBeNull();
  });

  test("experiment PUT creates the unknown subject on the fly; 201/200 and XNAT_E ids", async () => {
    const ref = { project: "P1", subject: "SUBJ_NEW", experiment: "SUBJ_NEW_MR1" };
    const e = await alice.putExperiment(ref, { xsiType: "xnat:mrSessionData", date: "01/02/2024", fields: { note: "n" } });
    expect(e.created).toBe(true);
    expect(e.id).toMatch(/^XNAT_E\d{5}$/);
    expect((await alice.putExperiment(ref, { xsiType: "xnat:mrSessionData" })).created).toBe(false);
    expect((await alice.listSubjects("P1", { label: "SUBJ_NEW" })).map((s) => s.label)).toEqual(["SUBJ_NEW"]);
    const details = await alice.getExperiment(ref);
    expect(details).toMatchObject({ id: e.id, label: "SUBJ_NEW_MR1", project: "P1", xsiType: "xnat:mrSessionData", date: "01/02/2024" });
    expect(details!.fields.note).toBe("n");
    // by accession id, with or without subject
    expect((await alice.getExperiment({ project: "P1", experiment: e.id }))?.label).toBe("SUBJ_NEW_MR1");
    // a wrong document type for an existing experiment is refused (422)
    const err = (await alice.putExperiment(ref, { xsiType: "xnat:ctSessionData" }).catch((x: unknown) => x)) as XnatError;
    expect(err.status).toBe(422);
    // no xsiType for a new experiment: 400
    expect(((await alice.putExperiment({ ...ref, experiment: "X2" }, { xsiType: "" }).catch((x: unknown) => x)) as XnatError).status).toBe(400);
  });

  test("search by label: project listings with wildcards, and across projects", async () => {
    await alice.putExperiment({ project: "P1", subject: "S_FIND", experiment: "FIND_ME_1" }, { xsiType: "xnat:ctSessionData" });
    await alice.putExperiment({ project: "P2", subject: "S_FIND", experiment: "FIND_ME_1" }, { xsiType: "xnat:ctSessionData" });
    await alice.putExperiment({ project: "P1", subject: "S_FIND", experiment: "FIND_ME_2" }, { xsiType: "xnat:ctSessionData" });
    expect((await alice.listExperiments("P1", { label: "FIND_ME_*" })).map((e) => e.label).sort()).toEqual(["FIND_ME_1", "FIND_ME_2"]);
    expect((await alice.listExperiments("P1", { subject: "S_FIND" })).length).toBe(2);
    expect((await alice.findExperiments("FIND_ME_1")).map((e) => e.project).sort()).toEqual(["P1", "P2"]);
    expect((await alice.findExperiments("FIND_ME_1", { project: "P2" })).map((e) => e.project)).toEqual(["P2"]);
    expect((await alice.findSubjects("S_FIND")).map((s) => s.project).sort()).toEqual(["P1", "P2"]);
    const row = (await alice.listExperiments("P1", { label: "FIND_ME_2" }))[0]!;
    expect(row).toMatchObject({ label: "FIND_ME_2", project: "P1", xsiType: "xnat:ctSessionData" });
    expect(row.ID).toMatch(/^XNAT_E/);
    // a collaborator of P1 only finds P1's
    const bob = await connect(server, BOB);
    expect((await bob.findExperiments("FIND_ME_1")).map((e) => e.project)).toEqual(["P1"]);
    await bob.close();
  });
});

describe("scans, resources, files", () => {
  const exp = { project: "P1", subject: "SUBJ_FILES", experiment: "SUBJ_FILES_MR1" };
  test("create scan and resource, upload, list, download, overwrite rules, delete", async () => {
    await alice.putExperiment(exp, { xsiType: "xnat:mrSessionData" });
    expect((await alice.putScan({ ...exp, scan: "1" }, { xsiType: "xnat:mrScanData", type: "T1w", seriesDescription: "t1 mprage" })).created).toBe(true);
    expect((await alice.putScan({ ...exp, scan: "1" }, { xsiType: "xnat:mrScanData", type: "T1" })).created).toBe(false);
    const scans = await alice.listScans(exp);
    expect(scans).toEqual([expect.objectContaining({ ID: "1", type: "T1", series_description: "t1 mprage", xsiType: "xnat:mrScanData" })]);

    const res = { ...exp, scan: "1", resource: "NIFTI" };
    expect((await alice.putResource(res, { format: "NIFTI", content: "T1_RAW" })).created).toBe(true);
    const data = new Uint8Array(Array.from({ length: 1000 }, (_, i) => i % 251));
    expect(await alice.uploadFile(res, "t1.nii", data)).toEqual({ id: "t1.nii", created: true });
    await alice.uploadFile(res, "sub/dir/notes.txt", new TextEncoder().encode("hello"), { contentType: "text/plain" });
    const files = await alice.listFiles(res);
    expect(files.map((f) => [f.Name, f.Size, f.collection]).sort()).toEqual([
      ["sub/dir/notes.txt", "5", "NIFTI"],
      ["t1.nii", "1000", "NIFTI"],
    ]);
    expect(files[0]!.digest).toMatch(/^[0-9a-f]{32}$/);
    expect(Buffer.compare(await alice.downloadFile(res, "t1.nii"), Buffer.from(data))).toBe(0);
    const resources = await alice.listResources({ ...exp, scan: "1" });
    expect(resources[0]).toMatchObject({ label: "NIFTI", format: "NIFTI", content: "T1_RAW", file_count: "2", file_size: "1005" });

    // existing name without overwrite: XNAT answers 200 with {"duplicates": [...]} and keeps the old
    // file (a conflict for the client); with overwrite: replaced (200)
    const conflict = (await alice.uploadFile(res, "t1.nii", new Uint8Array(3)).catch((x: unknown) => x)) as XnatError;
    expect(conflict.kind).toBe("conflict");
    expect(conflict.status).toBe(200);
    expect((await alice.listFiles(res)).find((f) => f.Name === "t1.nii")!.Size).toBe("1000");
    expect(await alice.uploadFile(res, "t1.nii", new Uint8Array(3), { overwrite: true })).toEqual({ id: "t1.nii", created: true });
    expect((await alice.listFiles(res)).find((f) => f.Name === "t1.nii")!.Size).toBe("3");

    await alice.deleteFile(res, "sub/dir/notes.txt");
    expect((await alice.listFiles(res)).map((f) => f.Name)).toEqual(["t1.nii"]);
    await alice.deleteScan({ ...exp, scan: "1" });
    expect(await alice.listScans(exp)).toEqual([]);
    // experiment-level resource
    await alice.uploadFile({ ...exp, resource: "QC" }, "report.txt", new TextEncoder().encode("ok"));
    expect((await alice.listResources(exp)).map((r) => r.label)).toEqual(["QC"]);
  });
});

describe("roles", () => {
  test("collaborator reads but cannot write; member writes but cannot delete; owner deletes", async () => {
    await alice.putExperiment({ project: "P1", subject: "S_ROLE", experiment: "S_ROLE_1" }, { xsiType: "xnat:mrSessionData" });
    const bob = await connect(server, BOB);
    expect((await bob.listExperiments("P1", { label: "S_ROLE_1" })).length).toBe(1);
    const denied = (await bob.putSubject("P1", "BOB_S").catch((x: unknown) => x)) as XnatError;
    expect(denied.kind).toBe("forbidden");
    expect(denied.status).toBe(403);
    expect(denied.message).toMatch(/Member/);
    await bob.close();

    // alice is a member (not owner) of P2
    await alice.putExperiment({ project: "P2", subject: "S_ROLE", experiment: "S_ROLE_2" }, { xsiType: "xnat:mrSessionData" });
    const noDelete = (await alice.deleteExperiment({ project: "P2", experiment: "S_ROLE_2" }).catch((x: unknown) => x)) as XnatError;
    expect(noDelete.status).toBe(403);
    const admin = await connect(server, ADMIN);
    await admin.deleteExperiment({ project: "P2", experiment: "S_ROLE_2" });
    expect(await admin.getExperiment({ project: "P2", experiment: "S_ROLE_2" })).toBeNull();
    await alice.deleteSubject("P1", "S_ROLE");
    expect(await alice.getSubject("P1", "S_ROLE")).toBeNull();
    expect(await alice.getExperiment({ project: "P1", experiment: "S_ROLE_1" })).toBeNull();
    // an owner adds a user; the user's role follows
    await admin.addProjectUser("P2", "Collaborators", "carol");
    const carol = await connect(server, CAROL);
    expect(await carol.myRole("P2")).toBe("collaborator");
    await carol.close();
    await admin.close();
  });
});
