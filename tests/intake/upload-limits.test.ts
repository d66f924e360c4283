// Browser upload bounds (issue 17 §4): a zip archive is held, before anything is staged, to the
// bytes it expands to (ATRIUM_UPLOAD_EXPANDED_MB), its compression ratio (ATRIUM_UPLOAD_MAX_RATIO)
// and what its upload session already staged (ATRIUM_UPLOAD_BATCH_MB). A refused archive or file
// gets a 413 saying which limit and what to do, and leaves nothing in staging or the database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import yazl from "yazl";
import { createTestDatabase } from "../helpers/pg";
import { createPeople } from "../helpers/fixtures";
import { startRouteServer, type RouteServer } from "../helpers/route-server";
import { setDbHandle } from "@/server/db";
import { createSession, SESSION_COOKIE } from "@/server/auth/session";
import { sample, type Sample } from "../dicomweb/helpers";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-upload-limits-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-uplim-${process.pid}-${randomBytes(3).toString("hex")}`;
process.env.ATRIUM_MAX_INSTANCE_MB = "1";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let server: RouteServer;
let cookie: string;
let mr: Sample[];
let ct: Sample;

async function upload(body: Buffer, batch: string, contentType = "application/zip") {
  const res = await fetch(`${server.url}/api/projects/UPL/upload?batch=${batch}`, { method: "POST", headers: { cookie, "content-type": contentType }, body: new Uint8Array(body) });
  return { status: res.status, json: (await res.json()) as { error?: string; results?: Array<{ name: string; outcome: string }> } };
}

function zip(entries: { name: string; data: Buffer }[]): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const e of entries) z.addBuffer(e.data, e.name);
  z.end();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    z.outputStream.on("data", (c: Buffer) => chunks.push(c));
    z.outputStream.on("end", () => resolve(Buffer.concat(chunks)));
    z.outputStream.on("error", reject);
  });
}

/** Every file under staging/ (upload files and the zip spool). */
function stagedFiles(): string[] {
  const out: string[] = [];
  for (const sub of ["upload", "upload-zip"]) {
    try {
      for (const f of readdirSync(path.join(dataDir, "staging", sub))) out.push(`${sub}/${f}`);
    } catch {
      // not made yet
    }
  }
  return out.sort();
}

function withEnv(vars: Record<string, string>, fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    Object.assign(process.env, vars);
    try {
      await fn();
    } finally {
      for (const [k, v] of Object.entries(before)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  const people = await createPeople(db.prisma);
  await db.prisma.project.create({ data: { id: "UPL", idLower: "upl", name: "UPL", members: { create: { userId: people.users.member.id, role: "member" } } } });
  cookie = `${SESSION_COOKIE}=${(await createSession(db.prisma, people.users.member.id)).token}`;
  mr = await Promise.all(["53323131", "53323275", "53323419"].map((n) => sample(`dwv__bbmri-${n}.dcm`)));
  ct = await sample("dicomParser__ctimage.dcm");
  const route = await import("@/app/api/projects/[projectId]/upload/route");
  server = await startRouteServer([{ method: "POST", pattern: /^\/api\/projects\/(?<projectId>[^/]+)\/upload\/?$/, handler: (req, ctx) => route.POST(req, ctx as { params: Promise<{ projectId: string }> }) }]);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await emptyQueuesAndDisconnect(["deid"]);
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("zip archives are bounded before anything is staged", () => {
  it(
    "refuses an archive that expands past ATRIUM_UPLOAD_EXPANDED_MB with 413, keeping nothing",
    withEnv({ ATRIUM_UPLOAD_EXPANDED_MB: "1" }, async () => {
      const before = stagedFiles();
      const batch = randomUUID();
      // Four files, each under the 1 MB single-file limit, 1.16 MB together.
      const archive = await zip([...mr.map((m, i) => ({ name: `mr${i}.dcm`, data: m.bytes })), { name: "ct.dcm", data: ct.bytes }]);
      const r = await upload(archive, batch);
      expect(r.status).toBe(413);
      expect(r.json.error).toMatch(/expands to 1 MB, more than the 1 MB one upload may unpack \(ATRIUM_UPLOAD_EXPANDED_MB\); nothing of it was kept/);
      expect(await db.prisma.receivedInstance.count({ where: { batchId: batch } })).toBe(0);
      expect(stagedFiles()).toEqual(before);
      // Under the bound it is unpacked as before.
      const ok = await upload(await zip([{ name: "mr0.dcm", data: mr[0]!.bytes }]), batch);
      expect(ok.status).toBe(200);
      expect(ok.json.results!.map((x) => x.outcome)).toEqual(["accepted"]);
    }),
  );

  it("refuses an archive that expands more than ATRIUM_UPLOAD_MAX_RATIO times its size (a zip bomb of small entries)", async () => {
    const before = stagedFiles();
    const batch = randomUUID();
    // 12 entries of 1,000,000 bytes, each under the 1 MB limit and starting like a DICOM file: ~12 MB from ~12 KB.
    const bomb = Buffer.alloc(1_000_000);
    bomb.write("DICM", 128, "latin1");
    const archive = await zip(Array.from({ length: 12 }, (_, i) => ({ name: `x${i}.dcm`, data: bomb })));
    expect(archive.length).toBeLessThan(100_000);
    const r = await upload(archive, batch);
    expect(r.status).toBe(413);
    expect(r.json.error).toMatch(/more than the 100 times allowed \(ATRIUM_UPLOAD_MAX_RATIO\); nothing of it was kept/);
    expect(await db.prisma.receivedInstance.count({ where: { batchId: batch } })).toBe(0);
    expect(stagedFiles()).toEqual(before);
  });

  it(
    "holds an upload session to ATRIUM_UPLOAD_BATCH_MB, for archives and single files",
    withEnv({ ATRIUM_UPLOAD_BATCH_MB: "0.5" }, async () => {
      const batch = randomUUID();
      const first = await upload(mr[1]!.bytes, batch, "application/dicom");
      expect(first.status).toBe(200);
      const before = stagedFiles();
      // 206 KB staged + 412 KB > 512 KB
      const r = await upload(await zip([{ name: "a.dcm", data: mr[2]!.bytes }, { name: "b.dcm", data: mr[0]!.bytes }]), batch);
      expect(r.status).toBe(413);
      expect(r.json.error).toMatch(/This upload session has staged 206 KB; .* \(ATRIUM_UPLOAD_BATCH_MB\); nothing of it was kept/);
      const single = await upload(ct.bytes, batch, "application/dicom");
      expect(single.status).toBe(413);
      expect(single.json.error).toMatch(/ATRIUM_UPLOAD_BATCH_MB.*this file was not kept/);
      expect(await db.prisma.receivedInstance.count({ where: { batchId: batch } })).toBe(1);
      expect(stagedFiles()).toEqual(before);
      // Another session has its own room.
      const other = await upload(await zip([{ name: "a.dcm", data: mr[2]!.bytes }]), randomUUID());
      expect(other.status).toBe(200);
    }),
  );
});
