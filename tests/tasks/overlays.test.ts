// Issue #15 "Overlays named by the template (a pipeline's segmentation NIfTI or DICOM SEG)": on real
// PostgreSQL and the local archive, a pipeline's stored results are what a template's overlay
// selectors match when tasks are made (a required one missing makes the task cannot-be-done);
// tasks.overlays gives the viewer each overlay (a NIfTI by URL, a SEG as a labelmap, or why it
// cannot be shown); the resource file route serves the stored bytes under the download rule.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, type People, type ProjectFixture } from "../helpers/fixtures";
import { labelVolumeOf } from "../helpers/nifti";
import { seedSubject, type SeededExperiment } from "../archive/seed";
import { setDbHandle } from "@/server/db";
import { createSession, SESSION_COOKIE } from "@/server/auth/session";
import { archiveBlobStore } from "@/lib/blob";
import { SAMPLES_DIR } from "@/lib/samples";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { segmentation } from "@/lib/tasks/seg";
import { sourceImageOf } from "@/lib/tasks/source-image";
import { encodeRuns } from "@/lib/viewer/viewer";
import { labelsOnImage, readLabelVolume } from "@/lib/viewer/nifti-overlay";
import { createGroup, saveTemplate } from "@/server/tasks/ops";

const dataDir = mkdtempSync(path.join(tmpdir(), "atrium-overlays-"));
process.env.ATRIUM_DATA_DIR = dataDir;
const route = (await import(path.resolve("app/api/projects/[projectId]/resources/[resourceId]/files/[name]/route.ts"))) as {
  GET: (req: Request, ctx: { params: Promise<{ projectId: string; resourceId: string; name: string }> }) => Promise<Response>;
};

const FILES = ["dwv__bbmri-53323131.dcm", "dwv__bbmri-53323275.dcm", "dwv__bbmri-53323419.dcm", "dwv__bbmri-53323563.dcm", "dwv__bbmri-53323707.dcm", "dwv__bbmri-53323851.dcm"].map((f) => path.join(SAMPLES_DIR, f));
const withOverlays = (required: boolean) =>
  DEMO_QC_TEMPLATE.replace(
    "contexts:",
    `overlays:
  mask: { label: Tissue mask, pipeline: segment, output: mask }
  lesions: { label: Lesions, pipeline: segment, output: lesions }
  atlas: { label: Atlas, pipeline: register, output: atlas, required: ${required} }
contexts:`,
  ).replace("- { id: main, scan: main }", "- { id: main, scan: main, overlays: [mask, lesions, atlas] }");

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let f: ProjectFixture;
let seeded: SeededExperiment;
let gz: Buffer;
let segBytes: Buffer;
let maskResourceId = "";
let taskId = "";
let sops: string[] = [];

async function storeResource(name: string, files: { name: string; bytes?: Buffer; xnat?: string }[], pipelineId = "segment") {
  const run = await db.prisma.pipelineRun.create({
    data: { projectId: f.projectId, pipelineRowId: f.pipelineRowId, pipelineId, pipelineVersion: "1", experimentIds: [seeded.id], startedBy: "cli", executor: "local", workDir: "/nonexistent", state: "succeeded" },
  });
  const stored = [];
  for (const file of files) {
    if (!file.bytes) {
      stored.push({ name: file.name, size: 10, sha256: "0".repeat(64), xnat: file.xnat });
      continue;
    }
    const blobKey = `derived/${f.projectId}/${run.id}/${name}/${file.name}`;
    await archiveBlobStore().put(blobKey, file.bytes);
    stored.push({ name: file.name, blobKey, size: file.bytes.length, sha256: createHash("sha256").update(file.bytes).digest("hex") });
  }
  const subjectId = (await db.prisma.archiveExperiment.findUniqueOrThrow({ where: { id: seeded.id } })).subjectId;
  return db.prisma.archiveResource.create({ data: { projectId: f.projectId, subjectId, experimentId: seeded.id, name, files: stored, runId: run.id } });
}

async function get(who: "member" | "collaborator" | "owner" | "outsider" | null, resourceId: string, name: string) {
  const headers = new Headers();
  if (who) headers.set("cookie", `${SESSION_COOKIE}=${(await createSession(db.prisma, people.users[who].id)).token}`);
  return route.GET(new Request(`http://atrium.test/api/projects/${f.projectId}/resources/${resourceId}/files/${name}`, { headers }), { params: Promise.resolve({ projectId: f.projectId, resourceId, name }) });
}

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  f = await createProjectFixture(db.prisma, people, "OVERLAYS", "private");
  [seeded] = await seedSubject(db.prisma, dataDir, f.projectId, "SUBJ-OVL", [{ label: "SUBJ-OVL_MR", scans: [{ seriesNumber: 3, modality: "MR", description: "t1 sagittal", instances: FILES.map((p) => readFileSync(p)) }] }]);
  sops = seeded!.scans[0]!.files.map((x) => x.key.split("/").pop()!.replace(/\.dcm$/, ""));
  gz = gzipSync(labelVolumeOf(FILES).nii);
  // A SEG on the first two slices, referencing them by the archive's own SOP Instance UIDs.
  const images = new Map(FILES.slice(0, 2).map((p, i) => [sops[i]!, { ...sourceImageOf(readFileSync(p)), sopInstanceUid: sops[i]!, seriesInstanceUid: seeded.scans[0]!.seriesInstanceUid }]));
  const painted = new Uint8Array(256 * 256);
  painted.fill(1, 3000, 3300);
  segBytes = segmentation({
    study: { studyInstanceUid: seeded.studyInstanceUid, patientName: "SUBJ-OVL", patientId: "SUBJ-OVL", studyDate: "20200102", studyTime: "101500", studyId: "1", accessionNumber: "" },
    images,
    labelmap: { scan: "main", slices: [{ sopInstanceUid: sops[1]!, frame: 1, rows: 256, columns: 256, runs: encodeRuns(painted) }] },
    labels: [{ value: 1, name: "Lesion", color: "#ff0000" }],
    creator: "segment pipeline",
    seriesDescription: "lesions",
    seriesNumber: 300,
    seriesInstanceUid: "2.25.77001",
    sopInstanceUid: "2.25.77002",
    at: new Date("2026-12-07T10:00:00Z"),
  });
});
afterAll(async () => {
  setDbHandle(undefined);
  await db?.drop();
});

describe("a template's overlays", () => {
  it("match the pipeline results stored on the experiment when tasks are made; a missing required one makes the task cannot-be-done", async () => {
    maskResourceId = (await storeResource("mask", [{ name: "mask.nii.gz", bytes: gz }, { name: "volumes.csv", bytes: Buffer.from("label,ml\n1,3.2\n") }])).id;
    await storeResource("lesions", [{ name: "lesions.dcm", bytes: segBytes }]);
    const owner = people.users.owner.id;
    const optional = await saveTemplate(db.prisma, f.projectId, owner, "qc-overlays", withOverlays(false));
    const g = await createGroup(db.prisma, f.projectId, owner, { label: "Overlays", templateId: optional.templateId, experimentIds: [seeded.id], readersPerCase: 1, distribution: "pool", pool: [] });
    const task = await db.prisma.task.findFirstOrThrow({ where: { groupId: g.groupId } });
    taskId = task.id;
    expect(task.state).toBe("queued");
    const resolution = task.resolution as { overlays: Record<string, { pipeline: string; output: string; resourceId: string; url: string }>; missingOptional: string[] };
    expect(Object.keys(resolution.overlays).sort()).toEqual(["lesions", "mask"]);
    expect(resolution.overlays.mask).toMatchObject({ pipeline: "segment", output: "mask", resourceId: maskResourceId, url: `/api/projects/${f.projectId}/resources/${maskResourceId}/files/mask.nii.gz` });
    expect(resolution.missingOptional).toEqual(["atlas"]);

    const required = await saveTemplate(db.prisma, f.projectId, owner, "qc-overlays-required", withOverlays(true));
    const g2 = await createGroup(db.prisma, f.projectId, owner, { label: "Needs an atlas", templateId: required.templateId, experimentIds: [seeded.id], readersPerCase: 1, distribution: "pool", pool: [] });
    const blocked = await db.prisma.task.findFirstOrThrow({ where: { groupId: g2.groupId } });
    expect(blocked.state).toBe("cannot_be_done");
    expect((blocked.resolution as { cannotBeDone: string }).cannotBeDone).toBe("cannot be done: no Atlas");
  });

  it("tasks.overlays gives the NIfTI by URL, the SEG as a labelmap on the archive's images, and says why one cannot be shown", async () => {
    const overlays = await callerFor(db.prisma, people.sessions.member).tasks.overlays({ projectId: f.projectId, taskId });
    const by = Object.fromEntries(overlays.map((o) => [o.name, o]));
    expect(by.mask).toMatchObject({ label: "Tissue mask", format: "nifti", fileName: "mask.nii.gz", url: `/api/projects/${f.projectId}/resources/${maskResourceId}/files/mask.nii.gz`, message: null, labelmap: null });
    expect(by.lesions).toMatchObject({ format: "seg", fileName: "lesions.dcm", url: null, message: null });
    expect(by.lesions!.labels).toEqual([{ value: 1, name: "Lesion" }]);
    expect(by.lesions!.labelmap!.slices.map((s) => [s.sopInstanceUid, s.runs])).toEqual([[sops[1], [[3000, 300, 1]]]]);
    expect(by.atlas).toMatchObject({ format: null, url: null, message: 'Pipeline "register" has not stored "atlas" for this experiment yet; run it, then reopen the task.' });

    // A newer run replaces the result: the task shows the new one.
    await db.prisma.archiveResource.delete({ where: { id: maskResourceId } });
    const newer = await storeResource("mask", [{ name: "mask.nii.gz", bytes: gz }]);
    const again = await callerFor(db.prisma, people.sessions.owner).tasks.overlays({ projectId: f.projectId, taskId });
    expect(again.find((o) => o.name === "mask")!.url).toBe(`/api/projects/${f.projectId}/resources/${newer.id}/files/mask.nii.gz`);
    maskResourceId = newer.id;

    // What cannot be shown says so.
    await storeResource("atlas", [{ name: "atlas.nii.gz", xnat: "/data/experiments/X/resources/atlas/files/atlas.nii.gz" }], "register");
    const onXnat = await callerFor(db.prisma, people.sessions.member).tasks.overlays({ projectId: f.projectId, taskId });
    expect(onXnat.find((o) => o.name === "atlas")!.message).toMatch(/stored on the project's XNAT/);
    await expect(callerFor(db.prisma, people.sessions.collaborator).tasks.overlays({ projectId: f.projectId, taskId })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(callerFor(db.prisma, people.sessions.outsider).tasks.overlays({ projectId: f.projectId, taskId })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("the resource file route serves the stored bytes under the download rule, audited", async () => {
    const r = await get("member", maskResourceId, "mask.nii.gz");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/gzip");
    expect(r.headers.get("cache-control")).toBe("private, no-store");
    const body = Buffer.from(await r.arrayBuffer());
    expect(body.equals(gz)).toBe(true);
    // What the viewer does with it: the labels on the second slice are those of its pixel values.
    const vol = readLabelVolume(body);
    const h = sourceImageOf(readFileSync(FILES[1]!));
    const labels = labelsOnImage(vol, { rows: h.rows, columns: h.columns, position: h.imagePositionPatient!, orientation: h.imageOrientationPatient!, pixelSpacing: h.pixelSpacing! });
    expect(labels?.some((v) => v === 2)).toBe(true);
    expect(await db.prisma.auditEvent.count({ where: { projectId: f.projectId, action: "resource.read", targetId: maskResourceId, actorId: people.users.member.id } })).toBe(1);

    expect((await get("collaborator", maskResourceId, "mask.nii.gz")).status).toBe(403);
    await db.prisma.project.update({ where: { id: f.projectId }, data: { allowCollaboratorDownload: true } });
    expect((await get("collaborator", maskResourceId, "mask.nii.gz")).status).toBe(200);
    await db.prisma.project.update({ where: { id: f.projectId }, data: { allowCollaboratorDownload: false } });
    expect((await get("outsider", maskResourceId, "mask.nii.gz")).status).toBe(404);
    expect((await get(null, maskResourceId, "mask.nii.gz")).status).toBe(401);

    const unknown = await get("owner", "nosuchresource", "mask.nii.gz");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/No stored result nosuchresource/);
    expect((await get("owner", maskResourceId, "other.nii.gz")).status).toBe(404);
    const atlas = await db.prisma.archiveResource.findFirstOrThrow({ where: { name: "atlas" } });
    const xnat = await get("owner", atlas.id, "atlas.nii.gz");
    expect(xnat.status).toBe(409);
    expect(((await xnat.json()) as { error: string }).error).toMatch(/on the project's XNAT/);
  });
});
