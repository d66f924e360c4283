// The default workflow's built-in processing step (issue #16: "a default workflow … that works on
// npm start and on DEMO out of the box"): dicom-info needs nothing but Node, and default_processing
// is registered in a project the first time it is asked for, once.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { SAMPLES_DIR } from "@/lib/samples";
import { registerDefaultProcessing } from "@/server/pipelines/registry";
import { MR_STUDY } from "../xnat/helpers";

const script = path.resolve("lib/pipelines/examples/dicom-info.mjs");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-dicom-info-"));
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.prisma.project.create({ data: { id: "DEFPROC", idLower: "defproc", name: "Default processing" } });
});
afterAll(async () => {
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("default_processing", () => {
  it("dicom-info counts the DICOM files of a series and their size, and says when there is none", () => {
    const series = path.join(dir, "series");
    fs.mkdirSync(series);
    for (const f of MR_STUDY.slice(0, 3)) fs.copyFileSync(path.join(SAMPLES_DIR, f), path.join(series, f));
    fs.writeFileSync(path.join(series, "notes.txt"), "not DICOM");
    const bytes = MR_STUDY.slice(0, 3).reduce((n, f) => n + fs.statSync(path.join(SAMPLES_DIR, f)).size, 0);
    const ok = spawnSync(process.execPath, [script, series], { encoding: "utf8" });
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ instances: 3, megabytes: Math.round((bytes / 1048576) * 1000) / 1000 });
    const none = spawnSync(process.execPath, [script, path.join(series, "notes.txt")], { encoding: "utf8" });
    expect(none.status).toBe(3);
    expect(none.stderr).toContain("No DICOM file among 1 file(s).");
  });

  it("is registered in a project once, with the script's absolute path", async () => {
    const a = await registerDefaultProcessing(db.prisma, "DEFPROC");
    const b = await registerDefaultProcessing(db.prisma, "DEFPROC");
    expect(a.id).toBe(b.id);
    expect(a).toMatchObject({ pipelineId: "default_processing", version: "1" });
    const tool = await db.prisma.pipelineTool.findFirstOrThrow({ where: { projectId: "DEFPROC", toolId: "dicom-info" } });
    expect(JSON.stringify(tool.definition)).toContain(script);
    expect(await db.prisma.pipeline.count({ where: { projectId: "DEFPROC" } })).toBe(1);
  });
});
