// The browse procedures on real PostgreSQL: subjects with experiment counts (local and XNAT-only),
// experiments with shifted dates, modalities, counts, sizes, archive state and location, scans with
// thumbnail URLs; the label filter and pagination; what the caller may download.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { seedSubject, type SeededExperiment } from "./seed";
import { experimentLabel } from "@/lib/archive/driver";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-browse-"));
process.env.ATRIUM_DATA_DIR = dataDir;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let local: SeededExperiment[];
const XNAT_UID = "2.25.777";

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  await db.prisma.project.create({
    data: {
      id: "BR1",
      idLower: "br1",
      name: "Browse",
      members: { create: [{ userId: people.users.owner.id, role: "owner" }, { userId: people.users.collaborator.id, role: "collaborator" }] },
    },
  });
  await db.prisma.projectArchiveTarget.create({ data: { projectId: "BR1", kind: "xnat", xnatUrl: "https://xnat.example.org", xnatProject: "BRAIN" } });
  // A study archived before the target became XNAT: in the local index, with its archive row.
  const archivedLocally = await db.prisma.intakeStudy.create({ data: { projectId: "BR1", studyInstanceUid: "2.25.100", subjectLabel: "SUBJ01", instanceCount: 4, status: "stable" } });
  await db.prisma.studyArchive.create({ data: { studyId: archivedLocally.id, projectId: "BR1", state: "archived", targetKind: "local", location: "local" } });
  local = await seedSubject(db.prisma, dataDir, "BR1", "SUBJ01", [
    {
      label: "SUBJ01_A1B2C3D4",
      studyDate: "20230115",
      description: "Brain MRI",
      intakeStudyId: archivedLocally.id,
      scans: [
        { seriesNumber: 2, modality: "MR", description: "T1 MPRAGE", instances: [100, 200] },
        { seriesNumber: 1, modality: "MR", description: "Localizer", instances: [50] },
        { seriesNumber: 3, modality: "SR", description: "Report", instances: [10] },
      ],
    },
    { label: "SUBJ01_FFFF0000", studyDate: "20240601", scans: [{ seriesNumber: 1, modality: "CT", instances: [300] }] },
  ]);
  for (let i = 2; i <= 12; i++) {
    const label = `SUBJ${String(i).padStart(2, "0")}`;
    await seedSubject(db.prisma, dataDir, "BR1", label, [{ label: `${label}_00000000`, scans: [{ seriesNumber: 1, modality: "CT", instances: [10] }] }]);
  }
  // A study that lives only on XNAT (subject XNATONLY), and one of SUBJ01 that failed to archive there.
  const onXnat = await db.prisma.intakeStudy.create({ data: { projectId: "BR1", studyInstanceUid: XNAT_UID, subjectLabel: "XNATONLY", instanceCount: 7, status: "stable" } });
  await db.prisma.studyArchive.create({
    data: { studyId: onXnat.id, projectId: "BR1", state: "archived", targetKind: "xnat", location: "https://xnat.example.org/data/experiments/XNAT_E00042", totalBytes: 7000n },
  });
  const failed = await db.prisma.intakeStudy.create({ data: { projectId: "BR1", studyInstanceUid: "2.25.999", subjectLabel: "SUBJ01", instanceCount: 2, status: "stable" } });
  await db.prisma.studyArchive.create({ data: { studyId: failed.id, projectId: "BR1", state: "failed", targetKind: "xnat", lastError: "XNAT answered 503 (service unavailable); retrying in 5 minutes." } });
}, 120_000);

afterAll(async () => {
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const asCollaborator = () => callerFor(db.prisma, people.sessions.collaborator).browse;
const asOwner = () => callerFor(db.prisma, people.sessions.owner).browse;

describe("browse.subjects", () => {
  it("lists subjects by label with experiment counts (local and elsewhere), sizes, paged", async () => {
    const p1 = await asCollaborator().subjects({ projectId: "BR1", pageSize: 5 });
    expect(p1.total).toBe(13);
    expect(p1.items.map((s) => s.label)).toEqual(["SUBJ01", "SUBJ02", "SUBJ03", "SUBJ04", "SUBJ05"]);
    expect(p1.items[0]).toMatchObject({ label: "SUBJ01", localExperiments: 2, otherExperiments: 1, experiments: 3, instances: 5, bytes: 660, latestStudyDate: "20240601" });
    const p3 = await asCollaborator().subjects({ projectId: "BR1", pageSize: 5, page: 3 });
    expect(p3.items.map((s) => s.label)).toEqual(["SUBJ11", "SUBJ12", "XNATONLY"]);
    expect(p3.items[2]).toMatchObject({ localExperiments: 0, otherExperiments: 1, experiments: 1, bytes: 0 });
  });

  it("filters on the label (case-insensitive; LIKE wildcards are literal)", async () => {
    expect((await asCollaborator().subjects({ projectId: "BR1", search: "subj1" })).items.map((s) => s.label)).toEqual(["SUBJ10", "SUBJ11", "SUBJ12"]);
    expect((await asCollaborator().subjects({ projectId: "BR1", search: "xnat" })).total).toBe(1);
    expect((await asCollaborator().subjects({ projectId: "BR1", search: "%" })).total).toBe(0);
    expect((await asCollaborator().subjects({ projectId: "BR1", search: "SUBJ_1" })).total).toBe(0);
  });
});

describe("browse.experiments", () => {
  it("a subject's experiments: newest first, shifted date, description, modalities, counts, size, state and where they live", async () => {
    const r = await asCollaborator().experiments({ projectId: "BR1", subject: "SUBJ01" });
    expect(r.total).toBe(3);
    expect(r.items.map((e) => e.label)).toEqual(["SUBJ01_FFFF0000", "SUBJ01_A1B2C3D4", experimentLabel("SUBJ01", "2.25.999")]);
    expect(r.items[1]).toMatchObject({
      id: local[0]!.id,
      studyDate: "20230115",
      description: "Brain MRI",
      modalities: ["MR", "SR"],
      scans: 3,
      instances: 4,
      bytes: 360,
      status: "archived",
      downloadable: true,
      location: { where: "local", href: null, label: "Local archive" },
    });
    expect(r.items[2]).toMatchObject({ id: null, status: "failed", downloadable: false, instances: 2, lastError: expect.stringMatching(/503/) });
    expect(r.items[2]!.location.where).toBe("xnat");
  });

  it("a study only on XNAT: its label from the pseudonym, its XNAT link, no download", async () => {
    const r = await asCollaborator().experiments({ projectId: "BR1", subject: "XNATONLY" });
    expect(r.items).toEqual([
      expect.objectContaining({
        id: null,
        label: experimentLabel("XNATONLY", XNAT_UID),
        status: "archived",
        instances: 7,
        bytes: 7000,
        downloadable: false,
        location: { where: "xnat", href: "https://xnat.example.org/data/experiments/XNAT_E00042", label: "XNAT xnat.example.org · BRAIN" },
      }),
    ]);
  });

  it("filters on label or description and pages", async () => {
    expect((await asCollaborator().experiments({ projectId: "BR1", subject: "SUBJ01", search: "brain" })).items.map((e) => e.label)).toEqual(["SUBJ01_A1B2C3D4"]);
    const p2 = await asCollaborator().experiments({ projectId: "BR1", subject: "SUBJ01", pageSize: 2, page: 2 });
    expect(p2).toMatchObject({ total: 3, page: 2 });
    expect(p2.items).toHaveLength(1);
    expect((await asCollaborator().experiments({ projectId: "BR1", subject: "NOBODY" })).total).toBe(0);
  });
});

describe("browse.scans", () => {
  it("an experiment's scans by series number, with counts, sizes and the DICOMweb thumbnail URL", async () => {
    const e = local[0]!;
    const r = await asCollaborator().scans({ projectId: "BR1", experimentId: e.id });
    expect(r.experiment).toEqual({ id: e.id, label: "SUBJ01_A1B2C3D4", subject: "SUBJ01", studyInstanceUid: e.studyInstanceUid });
    expect(r.items.map((s) => [s.seriesNumber, s.modality, s.description, s.instances, s.bytes])).toEqual([
      [1, "MR", "Localizer", 1, 50],
      [2, "MR", "T1 MPRAGE", 2, 300],
      [3, "SR", "Report", 1, 10],
    ]);
    expect(r.items[1]!.thumbnailUrl).toBe(`/dicomweb/projects/BR1/studies/${e.studyInstanceUid}/series/${e.scans[0]!.seriesInstanceUid}/thumbnail`);
    expect((await asCollaborator().scans({ projectId: "BR1", experimentId: e.id, search: "t1" })).items.map((s) => s.seriesNumber)).toEqual([2]);
    expect((await asCollaborator().scans({ projectId: "BR1", experimentId: e.id, pageSize: 2, page: 2 })).items.map((s) => s.seriesNumber)).toEqual([3]);
  });

  it("an unknown experiment, or one of another project, is NOT_FOUND with what to do", async () => {
    await expect(asCollaborator().scans({ projectId: "BR1", experimentId: "nope" })).rejects.toMatchObject({ code: "NOT_FOUND", message: expect.stringMatching(/Reload the list/) });
  });
});

describe("browse.overview and the download setting", () => {
  it("totals, the target, and whether the caller may download, with the reason when not", async () => {
    const o = await asCollaborator().overview({ projectId: "BR1" });
    expect(o).toMatchObject({
      target: { kind: "xnat", xnatUrl: "https://xnat.example.org", xnatProject: "BRAIN" },
      local: { subjects: 12, experiments: 13, scans: 15, instances: 16 },
      notLocal: 2,
      notLocalSubjects: 1,
      allowCollaboratorDownload: false,
      canDownload: false,
      isOwner: false,
    });
    expect(o.downloadRefusal).toMatch(/Ask a project owner/);
    expect((await asOwner().overview({ projectId: "BR1" })).canDownload).toBe(true);
  });

  it("owners turn collaborator download on and off (audited once per change)", async () => {
    expect(await asOwner().setCollaboratorDownload({ projectId: "BR1", allowed: true })).toEqual({ allowCollaboratorDownload: true, changed: true });
    expect(await asOwner().setCollaboratorDownload({ projectId: "BR1", allowed: true })).toEqual({ allowCollaboratorDownload: true, changed: false });
    expect((await asCollaborator().overview({ projectId: "BR1" })).canDownload).toBe(true);
    await asOwner().setCollaboratorDownload({ projectId: "BR1", allowed: false });
    expect(await db.prisma.auditEvent.count({ where: { projectId: "BR1", action: "project.collaboratorDownload" } })).toBe(2);
    await expect(asCollaborator().setCollaboratorDownload({ projectId: "BR1", allowed: true })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});

describe("browse.search and browse.scanView", () => {
  it("searches experiments across subjects by modality, description words and study date range, with every match's id", async () => {
    const mr = await asCollaborator().search({ projectId: "BR1", modality: "mr" });
    expect(mr.items.map((e) => [e.subject, e.label])).toEqual([["SUBJ01", "SUBJ01_A1B2C3D4"]]);
    const ct = await asCollaborator().search({ projectId: "BR1", modality: "CT", pageSize: 5 });
    expect(ct.total).toBe(12);
    expect(ct.items).toHaveLength(5);
    expect(ct.all).toHaveLength(12);
    expect((await asCollaborator().search({ projectId: "BR1", text: "mprage" })).items.map((e) => e.label)).toEqual(["SUBJ01_A1B2C3D4"]);
    const range = await asCollaborator().search({ projectId: "BR1", from: "2024-01-01", to: "2024-12-31" });
    expect(range.items.map((e) => e.label)).toEqual(["SUBJ01_FFFF0000"]);
    await expect(asCollaborator().search({ projectId: "BR1" })).rejects.toThrow(/Give a modality, words of a description or a date range/);
    await expect(asCollaborator().search({ projectId: "BR1", from: "2024-02-01", to: "2024-01-01" })).rejects.toThrow(/start date is after the end date/);
  });

  it("a scan's instances in order; the collaborator may not read the stored files unless owners allow downloads", async () => {
    const scan = local[0]!.scans[0]!; // series 2, two instances
    await expect(asCollaborator().scanView({ projectId: "BR1", scanId: scan.id })).rejects.toThrow(/Collaborators may browse/);
    const v = await callerFor(db.prisma, people.sessions.owner).browse.scanView({ projectId: "BR1", scanId: scan.id });
    expect(v.scan).toMatchObject({ seriesNumber: 2, experimentLabel: "SUBJ01_A1B2C3D4", subject: "SUBJ01" });
    expect(v.instances).toHaveLength(2);
    expect(v.header).not.toBeNull();
  });
});
