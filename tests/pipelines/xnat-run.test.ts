// Pipeline runs on a project whose archive target is an XNAT (issue #12), end to end through the real
// compute worker (startWorkers, Redis, PostgreSQL) and the XNAT test server over HTTP: the built-in
// default_processing (Node only) stages each scan's DICOM from XNAT and stores its values; a
// pipeline with resource sinks writes a resource per scan and a fan-in summary per experiment onto
// XNAT (with the values, as named results in Atrium); a later pipeline takes that resource as its
// source; a sink whose upload fails leaves nothing on XNAT and says so on the job; an experiment the
// governor follows keeps Atrium's ids (so its workflow reads the values).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-xnat-compute-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-xnat-compute-${process.pid}-${randomBytes(3).toString("hex")}`;
process.env.ATRIUM_SECRET_KEY ??= "xnat-compute-test-secret-key-0123456789";

const { createTestDatabase } = await import("../helpers/pg");
const { setDbHandle } = await import("@/server/db");
const { startWorkers } = await import("@/workers");
const { emptyQueuesAndDisconnect } = await import("../helpers/queues");
const { sealSecret } = await import("@/server/secrets");
const { registerDefaultProcessing, registerTool, registerPipeline } = await import("@/server/pipelines/registry");
const { startPipelineRun, startRunFromRequest, PipelineRunError } = await import("@/server/pipelines/runs");
const { setPipelineXnatOptions } = await import("@/server/pipelines/xnat");
const { ALICE, CT_STUDY, MR_STUDY, connect, entries, fastRetry, startServer } = await import("../xnat/helpers");
import type { XnatTestServer } from "../xnat/server";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let workers: Awaited<ReturnType<typeof startWorkers>>;
let xnat: XnatTestServer;
const P = "XCOMP";
const toolDir = mkdtempSync(path.join(os.tmpdir(), "atrium-xnat-tools-"));
let mrId = "";
let ctId = "";

async function importStudy(files: string[], subject: string, session: string) {
  const c = await connect(xnat);
  try {
    const r = await c.importDicomZip({ project: "P1", subject, session, files: entries(files).map((e, i) => ({ ...e, name: `${i}.dcm` })), overwrite: "none", destination: "archive" });
    return r.experiment!.experiment;
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  xnat = await startServer();
  setPipelineXnatOptions({ retry: fastRetry, timeoutMs: 5_000 });
  mrId = await importStudy(MR_STUDY, "SUBJ_A", "SUBJ_A_MR");
  ctId = await importStudy(CT_STUDY, "SUBJ_B", "SUBJ_B_CT");
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "On XNAT" } });
  await db.prisma.projectArchiveTarget.create({
    data: { projectId: P, kind: "xnat", xnatUrl: xnat.url, xnatProject: "P1", xnatUser: ALICE.login, xnatSecretSealed: sealSecret(ALICE.password, { table: "ProjectArchiveTarget", id: P, field: "xnatSecretSealed" }) },
  });
  await registerDefaultProcessing(db.prisma, P);
  // A Node-only tool with a file output and a value, and a fan-in summary over an experiment's files.
  writeFileSync(
    path.join(toolDir, "note.mjs"),
    `import { readdirSync, writeFileSync, mkdirSync } from "node:fs";\nconst [dir, out] = process.argv.slice(2);\nconst n = readdirSync(dir).length;\nmkdirSync(out, { recursive: true });\nwriteFileSync(out + "/note.json", JSON.stringify({ files: n }));\nconsole.log(JSON.stringify({ files: n }));\n`,
  );
  writeFileSync(
    path.join(toolDir, "summary.mjs"),
    `import { readFileSync, writeFileSync, mkdirSync } from "node:fs";\nconst [out, ...notes] = process.argv.slice(2);\nconst total = notes.reduce((n, f) => n + JSON.parse(readFileSync(f, "utf8")).files, 0);\nmkdirSync(out, { recursive: true });\nwriteFileSync(out + "/summary.txt", "series " + notes.length + " files " + total + "\\n");\nconsole.log(JSON.stringify({ total }));\n`,
  );
  const scope = { kind: "project" as const, projectId: P };
  await registerTool(db.prisma, scope, `kind: tool\nid: note\nversion: "1"\ncommand: [node, ${JSON.stringify(path.join(toolDir, "note.mjs"))}, "{dicom}", "{outdir}"]\ninputs:\n  - { id: dicom, type: dicom-series }\noutputs:\n  - { id: report, type: file, find: { path: "{outdir}/note.json" } }\n  - { id: files, type: integer, find: { stdout: files } }\n`, null);
  await registerTool(db.prisma, scope, `kind: tool\nid: summary\nversion: "1"\ncommand: [node, ${JSON.stringify(path.join(toolDir, "summary.mjs"))}, "{outdir}", { input: notes }]\ninputs:\n  - { id: notes, type: file, list: true }\noutputs:\n  - { id: text, type: file, find: { path: "{outdir}/summary.txt" } }\n  - { id: total, type: integer, find: { stdout: total } }\n`, null);
  await registerTool(db.prisma, scope, `kind: tool\nid: cat\nversion: "1"\ncommand: [node, -e, "process.stdout.write(JSON.stringify({ text: require('fs').readFileSync(process.argv[1], 'utf8').trim() }) + '\\\\n')", "{file}"]\ninputs:\n  - { id: file, type: file }\noutputs:\n  - { id: text, type: string, find: { stdout: text } }\n`, null);
  await registerPipeline(
    db.prisma,
    scope,
    `kind: pipeline\nid: notes\nversion: 1\nsources: { series: { from: scans } }\nnodes:\n  note: { tool: note, in: { dicom: series } }\n  sum: { tool: summary, in: { notes: { from: note.report, collapse: experiment } } }\nsinks:\n  note: { from: note.report, resource: NOTE }\n  files: { from: note.files, value: files }\n  summary: { from: sum.text, resource: SUMMARY }\n  total: { from: sum.total, value: total_files }\n`,
    null,
  );
  await registerPipeline(db.prisma, scope, `kind: pipeline\nid: reread\nversion: 1\nsources: { s: { from: resource, resource: SUMMARY } }\nnodes:\n  read: { tool: cat, in: { file: s } }\nsinks:\n  text: { from: read.text, value: summary_text }\n`, null);
  await registerPipeline(db.prisma, scope, `kind: pipeline\nid: notes2\nversion: 1\nsources: { series: { from: scans, modality: MR } }\nnodes:\n  note: { tool: note, in: { dicom: series } }\nsinks:\n  note: { from: note.report, resource: NOTE2 }\n  files: { from: note.files, value: files2 }\n`, null);
  workers = await startWorkers();
}, 120_000);

afterAll(async () => {
  await workers?.close(5_000);
  await emptyQueuesAndDisconnect(["compute", "deid", "intake-stability", "archive", "forward", "health", "webhook-pull"]);
  setDbHandle(undefined);
  await db?.drop();
  await xnat?.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(toolDir, { recursive: true, force: true });
});

async function waitForRun(runId: string, timeoutMs = 90_000) {
  const t0 = Date.now();
  for (;;) {
    const run = await db.prisma.pipelineRun.findUniqueOrThrow({ where: { id: runId }, include: { jobs: true } });
    if (!["queued", "running"].includes(run.state)) return run;
    if (Date.now() - t0 > timeoutMs) throw new Error(`run still ${run.state}: ${run.jobs.map((j) => `${j.key}=${j.state}`).join(", ")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const experiment = (id: string) => [...xnat.experiments.values()].find((e) => e.id === id)!;

describe("pipelines on an XNAT-archived project", () => {
  it("default_processing (Node only) stages every scan from XNAT and stores its values", async () => {
    const run = await startRunFromRequest(db.prisma, { projectId: P, pipeline: "default_processing", experimentIds: [], all: true, executor: "local", priority: 0 }, "cli", null);
    expect([...run.experimentIds].sort()).toEqual([mrId, ctId].sort());
    const done = await waitForRun(run.id);
    for (const j of done.jobs) expect(j.state, `${j.key}: ${j.reason}`).toBe("succeeded");
    expect(done.state).toBe("succeeded");
    expect(done.jobs).toHaveLength(2);
    const values = await db.prisma.archiveValue.findMany({ where: { projectId: P, name: "instances" } });
    expect(Object.fromEntries(values.map((v) => [v.experimentId, v.value]))).toEqual({ [mrId]: MR_STUDY.length, [ctId]: CT_STUDY.length });
    for (const v of values) expect(v.scanId).toBeTruthy();
    // Read from XNAT, never from a local copy: the scan files were downloaded.
    expect(xnat.callsTo("GET", /\/scans\/[^/]+\/resources\/[^/]+\/files\/.+/).length).toBe(MR_STUDY.length + CT_STUDY.length);
  }, 120_000);

  it("resource sinks go onto the scan and the experiment on XNAT; values are named results; a resource source reads them back", async () => {
    const run = await startPipelineRun(db.prisma, { projectId: P, pipeline: "notes", experimentIds: ["SUBJ_A_MR"], startedBy: "user:test" });
    expect(run.experimentIds).toEqual([mrId]);
    const done = await waitForRun(run.id);
    for (const j of done.jobs) expect(j.state, `${j.key}: ${j.reason}`).toBe("succeeded");
    const e = experiment(mrId);
    const scan = [...e.scans.values()][0]!;
    const note = scan.resources.get("NOTE");
    expect(note, "NOTE on the scan").toBeTruthy();
    expect(JSON.parse(note!.files.get("note.json")!.data!.toString())).toEqual({ files: MR_STUDY.length });
    expect(e.resources.get("SUMMARY")!.files.get("summary.txt")!.data!.toString()).toBe(`series 1 files ${MR_STUDY.length}\n`);
    const rows = await db.prisma.archiveResource.findMany({ where: { projectId: P, runId: run.id } });
    expect(rows.map((r) => [r.name, r.experimentId, r.scanId]).sort()).toEqual([["NOTE", mrId, scan.id], ["SUMMARY", mrId, null]].sort());
    for (const r of rows) for (const f of r.files as { xnat: string; sha256: string }[]) expect(f.xnat).toMatch(/\/files\//), expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await db.prisma.archiveValue.findFirstOrThrow({ where: { projectId: P, runId: run.id, name: "total_files" } })).value).toBe(MR_STUDY.length);

    // Again: the resources are replaced, not doubled (same names, new content written once).
    const again = await waitForRun((await startPipelineRun(db.prisma, { projectId: P, pipeline: "notes", experimentIds: [mrId], startedBy: "user:test" })).id);
    expect(again.state).toBe("succeeded");
    expect(await db.prisma.archiveResource.count({ where: { projectId: P, experimentId: mrId, name: "NOTE" } })).toBe(1);
    expect([...experiment(mrId).scans.values()][0]!.resources.get("NOTE")!.files.size).toBe(1);

    const reread = await waitForRun((await startPipelineRun(db.prisma, { projectId: P, pipeline: "reread", experimentIds: [mrId], startedBy: "user:test" })).id);
    for (const j of reread.jobs) expect(j.state, `${j.key}: ${j.reason}`).toBe("succeeded");
    expect((await db.prisma.archiveValue.findFirstOrThrow({ where: { projectId: P, experimentId: mrId, name: "summary_text" } })).value).toBe(`series 1 files ${MR_STUDY.length}`);
    // The CT experiment has no SUMMARY: skipped with a note when asked for.
    await expect(startPipelineRun(db.prisma, { projectId: P, pipeline: "reread", experimentIds: [ctId], startedBy: "user:test" })).resolves.toMatchObject({ state: "failed", error: expect.stringMatching(/needs resource SUMMARY/) });
  }, 120_000);

  it("a sink whose upload XNAT refuses leaves no partial resource on XNAT, no index row and no values, and says so", async () => {
    xnat.inject({ method: "PUT", path: /\/resources\/NOTE2\/files\//, kind: "status", status: 400, times: 1 });
    const done = await waitForRun((await startPipelineRun(db.prisma, { projectId: P, pipeline: "notes2", experimentIds: [mrId], startedBy: "user:test" })).id);
    expect(done.state).toBe("failed");
    const [job] = done.jobs;
    expect(job!.state).toBe("failed");
    expect(job!.reason).toMatch(/could not be written to the archive.*Nothing was left on XNAT/);
    for (const s of experiment(mrId).scans.values()) expect(s.resources.has("NOTE2")).toBe(false);
    expect(await db.prisma.archiveResource.count({ where: { projectId: P, name: "NOTE2" } })).toBe(0);
    expect(await db.prisma.archiveValue.count({ where: { projectId: P, name: "files2" } })).toBe(0);
    // Re-run the failed job: now it lands.
    const { rerunFailed } = await import("@/server/pipelines/runs");
    await rerunFailed(db.prisma, P, done.id);
    const ok = await waitForRun(done.id);
    expect(ok.state).toBe("succeeded");
    expect([...experiment(mrId).scans.values()][0]!.resources.get("NOTE2")!.files.size).toBe(1);
  }, 120_000);

  it("an experiment the governor follows keeps Atrium's ids; unknown experiments and a wrong password are refused with what to do", async () => {
    const subj = await db.prisma.archiveSubject.create({ data: { projectId: P, label: "SUBJ_B" } });
    const local = await db.prisma.archiveExperiment.create({ data: { projectId: P, subjectId: subj.id, label: "SUBJ_B_CT", studyInstanceUid: "2.25.77", modalities: [] } });
    const done = await waitForRun((await startPipelineRun(db.prisma, { projectId: P, pipeline: "default_processing", experimentIds: [local.id], startedBy: "user:test" })).id);
    expect(done.state).toBe("succeeded");
    expect(done.experimentIds).toEqual([local.id]);
    const v = await db.prisma.archiveValue.findFirstOrThrow({ where: { runId: done.id, name: "instances" } });
    expect([v.subjectId, v.experimentId]).toEqual([subj.id, local.id]);

    await expect(startPipelineRun(db.prisma, { projectId: P, pipeline: "default_processing", experimentIds: ["NOPE"], startedBy: "user:test" })).rejects.toThrow(/Not in XNAT project P1.*NOPE/);
    await db.prisma.projectArchiveTarget.update({ where: { projectId: P }, data: { xnatSecretSealed: sealSecret("wrong", { table: "ProjectArchiveTarget", id: P, field: "xnatSecretSealed" }) } });
    try {
      await expect(startPipelineRun(db.prisma, { projectId: P, pipeline: "default_processing", experimentIds: [mrId], startedBy: "user:test" })).rejects.toThrow(PipelineRunError);
      await expect(startPipelineRun(db.prisma, { projectId: P, pipeline: "default_processing", experimentIds: [mrId], startedBy: "user:test" })).rejects.toThrow(/refused the login.*Archive settings/);
    } finally {
      await db.prisma.projectArchiveTarget.update({ where: { projectId: P }, data: { xnatSecretSealed: sealSecret(ALICE.password, { table: "ProjectArchiveTarget", id: P, field: "xnatSecretSealed" }) } });
    }
  }, 120_000);
});
