// Issue #12 "results in Browse": what pipelines stored for one experiment — its values and
// resources on the experiment, its scans and its subject, each with the run that stored it — for
// the roles that browse (collaborators and up), nothing of another experiment or project.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, type People, type ProjectFixture } from "../helpers/fixtures";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let f: ProjectFixture;

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  f = await createProjectFixture(db.prisma, people, "RESULTS", "private");
  const exp = await db.prisma.archiveExperiment.findUniqueOrThrow({ where: { id: f.archiveExperimentId } });
  const other = await db.prisma.archiveExperiment.create({ data: { projectId: f.projectId, subjectId: exp.subjectId, label: "OTHER", studyInstanceUid: "2.25.999" } });
  const run = f.failedRunId;
  await db.prisma.archiveValue.createMany({
    data: [
      { projectId: f.projectId, subjectId: exp.subjectId, experimentId: exp.id, name: "mean", value: 412.5, runId: run },
      { projectId: f.projectId, subjectId: exp.subjectId, experimentId: exp.id, scanId: f.archiveScanId, name: "voxels", value: 1048576, runId: run },
      { projectId: f.projectId, subjectId: exp.subjectId, name: "handedness", value: "left" },
      { projectId: f.projectId, subjectId: exp.subjectId, experimentId: other.id, name: "mean", value: 1 },
    ],
  });
  await db.prisma.archiveResource.create({ data: { projectId: f.projectId, subjectId: exp.subjectId, experimentId: exp.id, name: "NIFTI", files: [{ name: "a.nii.gz", blobKey: "k1", size: 1000, sha256: "0" }, { name: "a.json", blobKey: "k2", size: 24, sha256: "1" }], runId: run } });
});
afterAll(async () => {
  await db?.drop();
});

describe("an experiment's pipeline results", () => {
  it("lists its values and resources with where they are and the run that stored them", async () => {
    const r = await callerFor(db.prisma, people.sessions.collaborator).pipeline.results({ projectId: f.projectId, experimentId: f.archiveExperimentId });
    expect(r.values.map((v) => [v.name, v.value, v.on, v.run?.pipeline ?? null])).toEqual([
      ["handedness", "left", "subject", null],
      ["mean", 412.5, "experiment", "fixture 1"],
      ["voxels", 1048576, "scan 1", "fixture 1"],
    ]);
    expect(r.resources).toEqual([expect.objectContaining({ name: "NIFTI", on: "experiment", files: 2, bytes: 1024, run: { id: f.failedRunId, pipeline: "fixture 1" } })]);
  });

  it("is refused to someone outside the project, and an unknown experiment is not found", async () => {
    await expect(callerFor(db.prisma, people.sessions.outsider).pipeline.results({ projectId: f.projectId, experimentId: f.archiveExperimentId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(callerFor(db.prisma, people.sessions.owner).pipeline.results({ projectId: f.projectId, experimentId: "nope" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
