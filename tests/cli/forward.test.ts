// `atrium forward add` and `atrium forward status` on real PostgreSQL and Redis, with Orthanc as the
// receiver: a C-STORE destination added with a filter and --backfill queues the study the project
// holds; once forwarded, status prints it verified with the instances delivered; bad arguments say
// what is wrong; a STOW-RS destination's token is sealed, never printed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { startOrthanc, type OrthancProcess } from "../helpers/orthanc";
import { emptyQueuesAndDisconnect } from "../helpers/queues";
import { stageFile } from "../archive/helpers-intake";
import { MR_STUDY, SAMPLES } from "../xnat/helpers";
import { deidentifyInstance } from "@/server/intake/deidentify";
import { runForwardAttempt } from "@/server/forward/run";
import { setDbHandle } from "@/server/db";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const ATRIUM = path.join(ROOT, "bin", "atrium.mjs");
const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-cli-forward-"));
const prefix = `atrium-cli-forward-${process.pid}`;
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = prefix;
process.env.ATRIUM_SECRET_KEY ??= "atrium-test-secret-key-not-for-production";
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let orthanc: OrthancProcess;
const P = "CLIFWD";

function atrium(...args: string[]) {
  const r = spawnSync(process.execPath, [ATRIUM, "forward", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, DATABASE_URL: db.url, ATRIUM_DATA_DIR: dataDir, ATRIUM_QUEUE_PREFIX: prefix, ATRIUM_LOG_LEVEL: "error" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  orthanc = await startOrthanc({ config: { DicomAlwaysAllowFind: true } });
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "CLI forwarding" } });
  let studyId = "";
  for (const f of MR_STUDY) {
    const inst = await stageFile(db.prisma, dataDir, P, path.join(SAMPLES, f));
    expect(await deidentifyInstance(db.prisma, dataDir, inst.id)).toBe("deidentified");
    studyId = (await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: inst.id } })).studyId!;
  }
  await db.prisma.intakeStudy.update({ where: { id: studyId }, data: { status: "archived" } });
}, 120_000);

afterAll(async () => {
  await orthanc?.stop();
  await emptyQueuesAndDisconnect(["forward"]);
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("atrium forward", () => {
  it("add --dicom --filter --backfill queues the held study; status shows it verified once forwarded", async () => {
    const r = atrium("add", "--project", P, "--dicom", `127.0.0.1:${orthanc.dicomPort}`, "--aet", orthanc.aet, "--filter", 'Modality == "MR"', "--backfill", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const added = JSON.parse(r.stdout) as { id: string; kind: string; host: string; port: number; calledAe: string; callingAe: string; filter: string; queuedStudies: number };
    expect(added).toMatchObject({ kind: "dicom", host: "127.0.0.1", port: orthanc.dicomPort, calledAe: "ORTHANC", callingAe: "ATRIUM", filter: 'Modality == "MR"', queuedStudies: 1 });
    expect(await db.prisma.auditEvent.count({ where: { projectId: P, action: "forward.create", actorId: null } })).toBe(1);

    const queued = atrium("status", "--project", P, "--json");
    expect(queued.code).toBe(0);
    expect((JSON.parse(queued.stdout) as { studies: Record<string, number> }[])[0]!.studies).toMatchObject({ queued: 1, verified: 0 });

    // The worker's step (tested in tests/forward): here run directly.
    const fwd = await db.prisma.studyForward.findFirstOrThrow({ where: { destinationId: added.id } });
    expect(await runForwardAttempt(db.prisma, dataDir, fwd.id, 1)).toBe("verified");

    const json = JSON.parse(atrium("status", "--project", P, "--json").stdout) as { destination: { name: string }; studies: Record<string, number>; instances: Record<string, number> }[];
    expect(json).toHaveLength(1);
    expect(json[0]!.studies).toEqual({ queued: 0, sending: 0, verified: 1, sent: 0, failed: 0, skipped: 0 });
    expect(json[0]!.instances).toEqual({ success: MR_STUDY.length, warning: 0, failed: 0, filtered: 0 });
    const text = atrium("status", "--project", P);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`ORTHANC@127.0.0.1 (C-STORE ORTHANC@127.0.0.1:${orthanc.dicomPort}) filter: Modality == "MR"`);
    expect(text.stdout).toContain("  studies:   0 queued · 0 sending · 1 verified · 0 sent, not verified · 0 failed");
    expect(text.stdout).toContain(`  instances: ${MR_STUDY.length} delivered · 0 with a warning · 0 failed · 0 excluded by the filter`);
  }, 180_000);

  it("add --stow --token without --backfill: the token is sealed and not printed; the held study is not sent", async () => {
    const r = atrium("add", "--project", P, "--stow", `${orthanc.url}/dicom-web`, "--token", "s3cret-token-value", "--name", "Web PACS");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^added Web PACS \(\w+\) to CLIFWD: STOW-RS to http:\/\/127\.0\.0\.1:\d+\/dicom-web\nonly new studies are forwarded/);
    expect(r.stdout + r.stderr).not.toContain("s3cret-token-value");
    const d = await db.prisma.forwardDestination.findFirstOrThrow({ where: { name: "Web PACS" } });
    expect(d.authKind).toBe("bearer");
    expect(d.secretSealed).not.toContain("s3cret-token-value");
    expect(await db.prisma.studyForward.findMany({ where: { destinationId: d.id } })).toMatchObject([{ state: "skipped" }]);
  }, 60_000);

  it("says what is wrong with bad arguments", () => {
    expect(atrium("add", "--project", P, "--dicom", "pacs.example.org", "--aet", "PACS")).toMatchObject({ code: 2, stderr: "atrium forward add: --dicom is HOST:PORT, e.g. pacs.example.org:104.\n" });
    expect(atrium("add", "--project", P, "--dicom", "pacs.example.org:104")).toMatchObject({ code: 2, stderr: expect.stringContaining("--aet AET (the receiver's AE title) is required with --dicom") });
    expect(atrium("add", "--project", P, "--dicom", "pacs:104", "--aet", "PACS", "--filter", 'Modality == "MR')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^atrium forward add: --filter: Filter: At column/) });
    expect(atrium("add", "--project", P)).toMatchObject({ code: 2, stderr: expect.stringContaining("give either --dicom HOST:PORT (with --aet) or --stow URL") });
    expect(atrium("status", "--project", "NOPE")).toMatchObject({ code: 2, stderr: expect.stringContaining('no project "NOPE"') });
    expect(atrium("frobnicate")).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown subcommand "frobnicate"') });
  }, 120_000);
});
