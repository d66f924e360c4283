// Bounded DICOMweb reads (issue 17 §4): a frame list is de-duplicated and capped before anything is
// read; study metadata is streamed one instance at a time, giving the event loop back between
// instances (the DICOM listener and the portal share the process).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { createPeople } from "../helpers/fixtures";
import { SAMPLES_DIR } from "@/lib/samples";
import { experimentLabel } from "@/lib/archive/driver";
import { createLocalArchiveDriver } from "@/server/archive/local-driver";
import { handleWado } from "@/server/dicomweb/read";
import { archiveSamples, readMultipart, type ArchivedFile } from "./read-helpers";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-dicomweb-limits-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-dwlim-${process.pid}-${randomBytes(3).toString("hex")}`;

const P = "LIMITS";
/** The documented cap on a frame list (lib/dicomweb/frames MAX_FRAME_LIST). */
const MAX_FRAME_LIST = 1000;
const STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
const SERIES_INSTANCES = 40;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let multiframe: ArchivedFile;

beforeAll(async () => {
  db = await createTestDatabase();
  const people = await createPeople(db.prisma);
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: P, members: { create: { userId: people.users.owner.id, role: "owner" } } } });
  [multiframe] = await archiveSamples(db.prisma, P, ["pydicom-data__emri_small.dcm"]);
  // One study of 40 instances: CT_small with its SOP Instance UID's last digits rewritten (same length).
  const src = readFileSync(path.join(SAMPLES_DIR, "pydicom__CT_small.dcm"));
  const sop = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";
  const dir = path.join(dataDir, "copies");
  mkdirSync(dir);
  const instances = [];
  for (let k = 0; k < SERIES_INSTANCES; k++) {
    const uid = `${sop.slice(0, -3)}${String(100 + k)}`;
    const bytes = Buffer.from(src.toString("latin1").split(sop).join(uid), "latin1");
    const file = path.join(dir, `${k}.dcm`);
    writeFileSync(file, bytes);
    instances.push({ instanceId: `ri_${k}`, path: file, sizeBytes: statSync(file).size, seriesInstanceUid: "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322", sopInstanceUid: uid });
  }
  await createLocalArchiveDriver(db.prisma).send({ studyId: "st_limits", projectId: P, studyInstanceUid: STUDY, subjectLabel: "SUBJ_L", experimentLabel: experimentLabel("SUBJ_L", STUDY), instances });
}, 120_000);

afterAll(async () => {
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const wado = (sub: string, accept?: string) =>
  handleWado(new Request(`http://atrium.test/dicomweb/projects/${P}/studies/${sub}`, { headers: accept ? { accept } : {} }), { prisma: db.prisma, projectId: P }, sub.split("/"));
const framesOf = (f: ArchivedFile, list: string) => `${f.studyInstanceUid}/series/${f.seriesInstanceUid}/instances/${f.sopInstanceUid}/frames/${list}`;

describe("WADO-RS frames", () => {
  it("sends each frame once however often the list names it", async () => {
    const res = await wado(framesOf(multiframe, "2,2,1,2,1,2"), 'multipart/related; type="application/octet-stream"');
    expect(res.status).toBe(200);
    const { parts } = await readMultipart(res);
    expect(parts.map((p) => p.headers.get("content-location")?.split("/").pop())).toEqual(["2", "1"]);
  });

  it(`refuses a list of more than ${MAX_FRAME_LIST} entries with 400, saying what to do`, async () => {
    const res = await wado(framesOf(multiframe, Array.from({ length: MAX_FRAME_LIST + 1 }, () => "1").join(",")), 'multipart/related; type="application/octet-stream"');
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: string };
    expect(error).toMatch(new RegExp(`at most ${MAX_FRAME_LIST} frames`));
    expect(error).toMatch(/several requests/);
    // Exactly the cap is fine (and de-duplicated to one frame).
    const ok = await wado(framesOf(multiframe, Array.from({ length: MAX_FRAME_LIST }, () => "1").join(",")), 'multipart/related; type="application/octet-stream"');
    expect(ok.status).toBe(200);
    expect((await readMultipart(ok)).parts).toHaveLength(1);
  });
});

describe("WADO-RS study metadata", () => {
  it("streams one instance at a time and lets the event loop run between instances", async () => {
    const res = await wado(`${STUDY}/metadata`, "application/dicom+json");
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const chunks: Uint8Array[] = [];
    let ticks = 0;
    let ticking = false;
    const tick = () => {
      if (!ticking) return;
      ticks++;
      setImmediate(tick);
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (chunks.length === 0) {
        ticking = true;
        setImmediate(tick);
      }
      chunks.push(value);
    }
    ticking = false;
    const body = JSON.parse(Buffer.concat(chunks).toString()) as Array<Record<string, { Value?: string[] }>>;
    expect(body).toHaveLength(SERIES_INSTANCES);
    expect(new Set(body.map((d) => d["00080018"]!.Value![0])).size).toBe(SERIES_INSTANCES);
    expect(chunks.length, "the body arrives instance by instance").toBeGreaterThanOrEqual(SERIES_INSTANCES);
    expect(ticks, "timers and I/O ran between instances").toBeGreaterThanOrEqual(SERIES_INSTANCES - 2);
  });
});
