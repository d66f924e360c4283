// A real STOW-RS client: Orthanc (Debian's, with its DICOMweb plugin) configured with Atrium as a
// DICOMweb server whose requests carry a project API token, sends a study with
// POST /dicom-web/servers/atrium/stow. Every instance lands in the token's project.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { freePort } from "@/lib/net";
import { setDbHandle } from "@/server/db";
import type { RouteServer } from "../helpers/route-server";
import { sample, startDicomwebServer, type Sample } from "./helpers";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

const ORTHANC = "/usr/sbin/Orthanc";
const DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-stow-orthanc-"));
const orthancDir = mkdtempSync(path.join(os.tmpdir(), "orthanc-stow-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-stow-orthanc-${process.pid}-${randomBytes(3).toString("hex")}`;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let server: RouteServer;
let orthanc: ChildProcess;
let orthancUrl: string;
let orthancLog = "";
let tokenId: string;
let study: Sample[];

async function orthancApi(method: string, p: string, body?: string | Buffer) {
  const res = await fetch(`${orthancUrl}${p}`, { method, body: body as BodyInit | undefined });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, text, json: json as Record<string, unknown> };
}

beforeAll(async () => {
  expect(existsSync(ORTHANC), "Debian's orthanc package is required (apt-get install orthanc orthanc-dicomweb)").toBe(true);
  expect(existsSync(DICOMWEB_PLUGIN), "Debian's orthanc-dicomweb package is required").toBe(true);
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  await db.prisma.project.create({
    data: { id: "ORTH", idLower: "orth", name: "From Orthanc", members: { create: [{ userId: people.users.owner.id, role: "owner" }] } },
  });
  const created = await callerFor(db.prisma, people.sessions.owner).token.create({ projectId: "ORTH", name: "Orthanc router", scopes: ["stow"] });
  tokenId = created.id;
  study = await Promise.all(["53323131", "53323275", "53323419", "53323563", "53323707", "53323851"].map((n) => sample(`dwv__bbmri-${n}.dcm`)));
  server = await startDicomwebServer();

  const [httpPort, dicomPort] = [await freePort(), await freePort()];
  orthancUrl = `http://127.0.0.1:${httpPort}`;
  const config = {
    Name: "AtriumStowTest",
    StorageDirectory: path.join(orthancDir, "storage"),
    IndexDirectory: path.join(orthancDir, "index"),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    Plugins: [DICOMWEB_PLUGIN],
    DicomWeb: {
      Enable: true,
      Root: "/dicom-web/",
      Servers: { atrium: { Url: `${server.url}/dicomweb/`, HttpHeaders: { Authorization: `Bearer ${created.token}` } } },
    },
  };
  const configPath = path.join(orthancDir, "orthanc.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  orthanc = spawn(ORTHANC, [configPath], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TCP_NODELAY: "1" } });
  orthanc.stdout!.on("data", (d) => (orthancLog += d));
  orthanc.stderr!.on("data", (d) => (orthancLog += d));
  for (let i = 0; ; i++) {
    if (orthanc.exitCode !== null) throw new Error(`Orthanc exited with ${orthanc.exitCode}:\n${orthancLog}`);
    try {
      if ((await fetch(`${orthancUrl}/system`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error(`Orthanc did not start:\n${orthancLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 120_000);

afterAll(async () => {
  if (orthanc && orthanc.exitCode === null) {
    const exited = new Promise((r) => orthanc.once("exit", r));
    orthanc.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (orthanc.exitCode === null) orthanc.kill("SIGKILL");
  }
  await server?.close();
  await emptyQueuesAndDisconnect(["deid"]);
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(orthancDir, { recursive: true, force: true });
});

describe("Orthanc as a STOW-RS client", () => {
  it("sends a whole study to Atrium with the token; every instance is recorded in the token's project", async () => {
    let studyId = "";
    for (const s of study) {
      const up = await orthancApi("POST", "/instances", s.bytes);
      expect(up.status, up.text).toBe(200);
      studyId = up.json.ParentStudy as string;
    }
    const stow = await orthancApi("POST", "/dicom-web/servers/atrium/stow", JSON.stringify({ Resources: [studyId], Synchronous: true }));
    expect(stow.status, `${stow.text}\n${orthancLog.slice(-3000)}`).toBe(200);

    const rows = await db.prisma.receivedInstance.findMany({ where: { channel: "stow" } });
    expect(rows.every((r) => r.projectId === "ORTH")).toBe(true);
    expect(rows.map((r) => r.sopInstanceUid).sort()).toEqual(study.map((s) => s.sopInstanceUid).sort());
    expect(new Set(rows.map((r) => r.batchId)).size).toBeGreaterThanOrEqual(1);
    const token = await db.prisma.projectApiToken.findUniqueOrThrow({ where: { id: tokenId } });
    expect(token.lastUsedAt).not.toBeNull();
  }, 120_000);

  it("fails visibly once the token is revoked, and stores nothing", async () => {
    await callerFor(db.prisma, people.sessions.owner).token.revoke({ projectId: "ORTH", tokenId });
    const before = await db.prisma.receivedInstance.count();
    const studies = (await orthancApi("GET", "/studies")).json as unknown as string[];
    const stow = await orthancApi("POST", "/dicom-web/servers/atrium/stow", JSON.stringify({ Resources: studies, Synchronous: true }));
    expect(stow.status).not.toBe(200);
    expect(`${stow.text}\n${orthancLog}`).toMatch(/401|Unauthorized/i);
    expect(await db.prisma.receivedInstance.count()).toBe(before);
  }, 60_000);
});
