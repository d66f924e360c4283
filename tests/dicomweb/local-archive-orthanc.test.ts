// A real DICOMweb client reading the local archive: Orthanc (Debian's, with its DICOMweb plugin)
// configured with Atrium's project DICOMweb root as a remote server whose requests carry a read
// token. Orthanc searches (QIDO-RS through /dicom-web/servers/atrium/get) and pulls whole studies
// (WADO-RS through /dicom-web/servers/atrium/retrieve); every instance must arrive intact.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { startOrthanc, type OrthancProcess } from "../helpers/orthanc";
import type { RouteServer } from "../helpers/route-server";
import { setDbHandle } from "@/server/db";
import { archiveSamples, startDicomwebReadServer, closeReadTest, type ArchivedFile } from "./read-helpers";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-dicomweb-orthanc-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-dworth-${process.pid}-${randomBytes(3).toString("hex")}`;

const MR_STUDY = ["53323131", "53323275", "53323419", "53323563", "53323707", "53323851"].map((n) => `dwv__bbmri-${n}.dcm`);
const OTHERS = ["highdicom__sm_image_jpegls.dcm", "dicomParser__CT1_UNC.explicit_big_endian.dcm", "pydicom-data__emri_small_RLE.dcm", "dicomParser__report_dfl.dcm"];

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let server: RouteServer;
let orthanc: OrthancProcess;
let files: ArchivedFile[];

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function orthancJson(p: string, init?: RequestInit): Promise<{ status: number; body: unknown; text: string }> {
  const res = await orthanc.rest(p, init);
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body, text };
}

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  await db.prisma.project.create({
    data: { id: "ARCH", idLower: "arch", name: "Archive", members: { create: [{ userId: people.users.owner.id, role: "owner" }] } },
  });
  const token = (await callerFor(db.prisma, people.sessions.owner).token.create({ projectId: "ARCH", name: "Orthanc viewer", scopes: ["read"] })).token;
  files = await archiveSamples(db.prisma, "ARCH", [...MR_STUDY, ...OTHERS]);
  server = await startDicomwebReadServer();
  orthanc = await startOrthanc({
    dicomweb: true,
    config: {
      DicomWeb: {
        Enable: true,
        Root: "/dicom-web/",
        Servers: { atrium: { Url: `${server.url}/dicomweb/projects/ARCH/`, HttpHeaders: { Authorization: `Bearer ${token}` } } },
      },
    },
  });
}, 120_000);

afterAll(async () => {
  await orthanc?.stop();
  await server?.close();
  await closeReadTest(db, dataDir);
});

describe("Orthanc as a DICOMweb client of the local archive", () => {
  it("finds the studies with QIDO-RS through Orthanc", async () => {
    const r = await orthancJson("/dicom-web/servers/atrium/get", { method: "POST", body: JSON.stringify({ Uri: "/studies", Arguments: { ModalitiesInStudy: "MR" } }) });
    expect(r.status, `${r.text}\n${orthanc.log().slice(-2000)}`).toBe(200);
    const uids = (r.body as Array<Record<string, { Value?: string[] }>>).map((s) => s["0020000D"]?.Value?.[0]);
    expect(uids).toContain(files.find((f) => f.name === MR_STUDY[0])!.studyInstanceUid);
    expect(uids).not.toContain(files.find((f) => f.name === OTHERS[0])!.studyInstanceUid);
  });

  it("pulls every archived study with WADO-RS; each instance arrives byte for byte", async () => {
    const studies = [...new Set(files.map((f) => f.studyInstanceUid))];
    const r = await orthancJson("/dicom-web/servers/atrium/retrieve", {
      method: "POST",
      body: JSON.stringify({ Resources: studies.map((s) => ({ Study: s })), Synchronous: true }),
    });
    expect(r.status, `${r.text}\n${orthanc.log().slice(-3000)}`).toBe(200);
    const ids = (await orthancJson("/instances")).body as string[];
    expect(ids).toHaveLength(files.length);
    for (const id of ids) {
      const tags = (await orthancJson(`/instances/${id}/simplified-tags`)).body as Record<string, string>;
      const f = files.find((x) => x.sopInstanceUid === tags.SOPInstanceUID);
      expect(f, `Orthanc holds an instance Atrium did not archive`).toBeDefined();
      const got = Buffer.from(await (await orthanc.rest(`/instances/${id}/file`)).arrayBuffer());
      expect(sha(got), f!.name).toBe(sha(readFileSync(f!.file)));
    }
  }, 120_000);

  it("a pull with a revoked token fails visibly", async () => {
    const owner = callerFor(db.prisma, people.sessions.owner);
    for (const t of await owner.token.list({ projectId: "ARCH" })) await owner.token.revoke({ projectId: "ARCH", tokenId: t.id });
    const r = await orthancJson("/dicom-web/servers/atrium/get", { method: "POST", body: JSON.stringify({ Uri: "/studies" }) });
    expect(r.status).not.toBe(200);
    expect(`${r.text}\n${orthanc.log()}`).toMatch(/401|Unauthorized/i);
  }, 60_000);
});
