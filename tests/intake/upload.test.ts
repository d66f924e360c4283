// Browser upload over real HTTP: the route handler with real PostgreSQL, Redis and workers. A file
// or a zip (made here with yazl: DICOM, non-DICOM, nested folders, macOS litter) is recorded before
// the answer; what is not DICOM is skipped with a reason; oversized, truncated, aborted and
// wrongly typed bodies get clear errors and leave nothing in staging; only members and owners may upload.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import yazl from "yazl";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { startRouteServer, type RouteServer } from "../helpers/route-server";
import { setDbHandle } from "@/server/db";
import { createSession, SESSION_COOKIE } from "@/server/auth/session";
import { uploadResponseSchema, type UploadResponse } from "@/lib/intake/upload";
import { sample, type Sample } from "../dicomweb/helpers";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-upload-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-upload-${process.pid}-${randomBytes(3).toString("hex")}`;
// 1 MB: small enough to test the limit with a real sample (the CT image is ~0.5 MB).
process.env.ATRIUM_MAX_INSTANCE_MB = "1";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let server: RouteServer;
let workers: { close(graceMs?: number): Promise<void> };
let mr: Sample[];
let ct: Sample;
const cookies: Record<string, string> = {};

async function upload(
  body: Buffer,
  opts: { project?: string; batch?: string | null; as?: string | null; contentType?: string | null; name?: string } = {},
): Promise<{ status: number; text: string; json: (UploadResponse & { error?: string }) | null }> {
  const headers: Record<string, string> = {};
  const ctype = opts.contentType === undefined ? "application/dicom" : opts.contentType;
  if (ctype) headers["content-type"] = ctype;
  const who = opts.as === undefined ? "member" : opts.as;
  if (who) headers.cookie = cookies[who]!;
  if (opts.name) headers["x-atrium-file-name"] = encodeURIComponent(opts.name);
  const batch = opts.batch === undefined ? randomUUID() : opts.batch;
  const q = batch === null ? "" : `?batch=${batch}`;
  const res = await fetch(`${server.url}/api/projects/${opts.project ?? "UP1"}/upload${q}`, { method: "POST", headers, body: new Uint8Array(body) });
  const text = await res.text();
  return { status: res.status, text, json: res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : null };
}

function zip(entries: { name: string; data?: Buffer }[]): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const e of entries) {
    if (e.data) z.addBuffer(e.data, e.name);
    else z.addEmptyDirectory(e.name);
  }
  z.end();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    z.outputStream.on("data", (c: Buffer) => chunks.push(c));
    z.outputStream.on("end", () => resolve(Buffer.concat(chunks)));
    z.outputStream.on("error", reject);
  });
}

/** Everything in staging/upload and the zip spool that is not a recorded instance. */
function stagingLeftovers(): string[] {
  const out: string[] = [];
  for (const sub of ["upload", "upload-zip"]) {
    try {
      for (const f of readdirSync(path.join(dataDir, "staging", sub))) if (!f.endsWith(".dcm")) out.push(`${sub}/${f}`);
    } catch {
      // not made yet
    }
  }
  return out;
}

/**
 * Staged DICOM files no instance row refers to (what a refused or broken upload would leave). Counting
 * files does not work: the workers delete each original once it is de-identified.
 */
async function unrecordedDcm(): Promise<string[]> {
  const recorded = new Set((await db.prisma.receivedInstance.findMany({ select: { stagingPath: true } })).map((r) => path.basename(r.stagingPath)));
  try {
    return readdirSync(path.join(dataDir, "staging", "upload")).filter((f) => f.endsWith(".dcm") && !recorded.has(f));
  } catch {
    return [];
  }
}

async function settled(projectId: string, batchId: string) {
  for (let i = 0; i < 300; i++) {
    const n = await db.prisma.receivedInstance.count({ where: { projectId, batchId, status: "received" } });
    if (n === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("de-identification did not finish in 30 s");
}

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  for (const id of ["UP1", "UP2"]) {
    await db.prisma.project.create({
      data: {
        id,
        idLower: id.toLowerCase(),
        name: id,
        members:
          id === "UP1"
            ? { create: [{ userId: people.users.owner.id, role: "owner" }, { userId: people.users.member.id, role: "member" }, { userId: people.users.collaborator.id, role: "collaborator" }] }
            : { create: [{ userId: people.users.owner.id, role: "owner" }] },
      },
    });
  }
  for (const who of ["owner", "member", "collaborator", "outsider"] as const) {
    cookies[who] = `${SESSION_COOKIE}=${(await createSession(db.prisma, people.users[who].id)).token}`;
  }
  mr = await Promise.all(["53323131", "53323275", "53323419"].map((n) => sample(`dwv__bbmri-${n}.dcm`)));
  ct = await sample("dicomParser__ctimage.dcm");
  const route = await import("@/app/api/projects/[projectId]/upload/route");
  server = await startRouteServer([
    {
      method: "POST",
      pattern: /^\/api\/projects\/(?<projectId>[^/]+)\/upload\/?$/,
      handler: (req, ctx) => route.POST(req, ctx as { params: Promise<{ projectId: string }> }),
    },
  ]);
  workers = await (await import("@/workers")).startWorkers();
}, 120_000);

afterAll(async () => {
  await server?.close();
  await workers?.close(5_000);
  await emptyQueuesAndDisconnect(["deid", "intake-stability", "health"]);
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("uploading one file per request", () => {
  it("records each file before answering, under the session's batch id, and upload.batch follows it to de-identified and duplicate", async () => {
    const batchId = randomUUID();
    const answers = await Promise.all(mr.map((s, i) => upload(s.bytes, { batch: batchId, name: `scans/mr-${i}.dcm` })));
    for (const a of answers) expect(a.status, a.text).toBe(200);
    const results = answers.map((a) => uploadResponseSchema.parse(a.json).results[0]!);
    expect(results.map((r) => r.outcome)).toEqual(["accepted", "accepted", "accepted"]);
    expect(results.map((r) => r.name)).toEqual(["scans/mr-0.dcm", "scans/mr-1.dcm", "scans/mr-2.dcm"]);
    // Recorded the moment the answer arrived.
    const rows = await db.prisma.receivedInstance.findMany({ where: { batchId } });
    expect(rows.map((r) => r.id).sort()).toEqual(results.map((r) => r.instanceId).sort());
    expect(rows.every((r) => r.channel === "upload" && r.projectId === "UP1")).toBe(true);
    expect(rows.map((r) => r.sopInstanceUid).sort()).toEqual(mr.map((s) => s.sopInstanceUid).sort());

    // The same file again in the same session: recorded, then found to be a duplicate.
    const again = await upload(mr[0]!.bytes, { batch: batchId, name: "again.dcm" });
    expect(again.json!.results[0]!.outcome).toBe("accepted");
    await settled("UP1", batchId);
    const member = callerFor(db.prisma, people.sessions.member);
    const live = await member.upload.batch({ projectId: "UP1", batchId });
    expect(live.counts).toMatchObject({ total: 4, deidentified: 3, duplicate: 1, processing: 0, quarantined: 0, done: true });
    expect(live.instances.map((i) => i.id).sort()).toEqual([...results.map((r) => r.instanceId), again.json!.results[0]!.instanceId].sort());
    // Another project's view of the batch is empty: a batch id names nothing across projects.
    const owner = callerFor(db.prisma, people.sessions.owner);
    expect((await owner.upload.batch({ projectId: "UP2", batchId })).counts.total).toBe(0);
    expect(stagingLeftovers()).toEqual([]);
  }, 60_000);

  it("skips what is not DICOM or not complete, with the reason, storing nothing", async () => {
    const before = await db.prisma.receivedInstance.count();
    const text = await upload(Buffer.from("hello, this is a text file"), { name: "notes.txt" });
    expect(text.status).toBe(200);
    expect(text.json!.results[0]).toMatchObject({ name: "notes.txt", outcome: "skipped", instanceId: null });
    expect(text.json!.results[0]!.reason).toMatch(/^not a DICOM file \(/);
    const truncated = await upload(mr[1]!.bytes.subarray(0, Math.floor(mr[1]!.bytes.length / 2)), { name: "cut.dcm" });
    expect(truncated.json!.results[0]).toMatchObject({ outcome: "skipped" });
    expect(truncated.json!.results[0]!.reason).toMatch(/^not a complete DICOM file/);
    const empty = await upload(Buffer.alloc(0), { name: "empty.dcm" });
    expect(empty.json!.results[0]!.outcome).toBe("skipped");
    // A large file that is not DICOM is told apart by its first bytes, not refused as too large.
    const video = await upload(Buffer.alloc(5 * 1024 * 1024, 7), { name: "video.mp4" });
    expect(video.status).toBe(200);
    expect(video.json!.results[0]).toMatchObject({ name: "video.mp4", outcome: "skipped" });
    expect(video.json!.results[0]!.reason).toBe("not a DICOM file (no DICM prefix and no recognisable group 0002/0008 start)");
    expect(await db.prisma.receivedInstance.count()).toBe(before);
    expect(await unrecordedDcm()).toEqual([]);
    expect(stagingLeftovers()).toEqual([]);
  });

  it("refuses a file over ATRIUM_MAX_INSTANCE_MB with 413, keeping nothing", async () => {
    const before = await db.prisma.receivedInstance.count();
    const big = Buffer.concat([ct.bytes, randomBytes(1024 * 1024)]);
    const r = await upload(big, { name: "big.dcm" });
    expect(r.status).toBe(413);
    expect(r.json!.error).toMatch(/larger than the limit of 1 MB.*ATRIUM_MAX_INSTANCE_MB/);
    expect(await db.prisma.receivedInstance.count()).toBe(before);
    expect(await unrecordedDcm()).toEqual([]);
    expect(stagingLeftovers()).toEqual([]);
  });

  it("refuses wrong content types and a missing batch id, saying what to send", async () => {
    const before = await db.prisma.receivedInstance.count();
    const form = await upload(mr[0]!.bytes, { contentType: "multipart/form-data; boundary=x" });
    expect(form.status).toBe(415);
    expect(form.json!.error).toMatch(/application\/dicom.*application\/zip.*multipart\/form-data/);
    const none = await upload(mr[0]!.bytes, { contentType: null });
    expect(none.status).toBe(415);
    const noBatch = await upload(mr[0]!.bytes, { batch: null });
    expect(noBatch.status).toBe(400);
    expect(noBatch.json!.error).toMatch(/batch id/);
    const badBatch = await upload(mr[0]!.bytes, { batch: "not-a-uuid" });
    expect(badBatch.status).toBe(400);
    expect(await db.prisma.receivedInstance.count()).toBe(before);
  });

  it("keeps nothing of a request cut off before its end", async () => {
    const before = await db.prisma.receivedInstance.count();
    for (const [ctype, body] of [
      ["application/dicom", ct.bytes],
      ["application/zip", await zip([{ name: "a.dcm", data: ct.bytes }])],
    ] as const) {
      await new Promise<void>((resolve) => {
        const req = http.request(`${server.url}/api/projects/UP1/upload?batch=${randomUUID()}`, {
          method: "POST",
          headers: { "content-type": ctype, "content-length": String(body.length), cookie: cookies.member! },
        });
        req.on("error", () => resolve());
        req.on("response", () => resolve());
        req.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => req.destroy(), 200));
      });
    }
    // The server notices the broken connection and cleans up.
    for (let i = 0; i < 50 && stagingLeftovers().length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(stagingLeftovers()).toEqual([]);
    expect(await unrecordedDcm()).toEqual([]);
    expect(await db.prisma.receivedInstance.count()).toBe(before);
  });
});

describe("uploading a zip archive", () => {
  it("stores each DICOM entry, from nested folders, skips the rest with reasons, and ignores folders and macOS litter", async () => {
    const batchId = randomUUID();
    const archive = await zip([
      { name: "study/" },
      { name: "study/series1/" },
      { name: "study/series1/IM0001", data: mr[0]!.bytes },
      { name: "study/series1/IM0002.dcm", data: mr[1]!.bytes },
      { name: "study/series2/deeper/ct.dcm", data: ct.bytes },
      { name: "study/README.txt", data: Buffer.from("scanned on tuesday") },
      { name: "study/cut.dcm", data: mr[2]!.bytes.subarray(0, 2000) },
      { name: "__MACOSX/study/._IM0001", data: Buffer.from("resource fork") },
      { name: "study/.DS_Store", data: Buffer.from("finder") },
    ]);
    const r = await upload(archive, { batch: batchId, contentType: "application/zip", name: "study.zip" });
    expect(r.status, r.text).toBe(200);
    const body = uploadResponseSchema.parse(r.json);
    expect(body.kind).toBe("zip");
    expect(body.ignoredEntries).toBe(4);
    const byName = Object.fromEntries(body.results.map((x) => [x.name, x]));
    expect(Object.keys(byName)).toEqual(["study/series1/IM0001", "study/series1/IM0002.dcm", "study/series2/deeper/ct.dcm", "study/README.txt", "study/cut.dcm"]);
    expect(byName["study/series1/IM0001"]!.outcome).toBe("accepted");
    expect(byName["study/series2/deeper/ct.dcm"]!.outcome).toBe("accepted");
    expect(byName["study/README.txt"]).toMatchObject({ outcome: "skipped" });
    expect(byName["study/README.txt"]!.reason).toMatch(/not a DICOM file/);
    expect(byName["study/cut.dcm"]!.reason).toMatch(/not a complete DICOM file/);
    const rows = await db.prisma.receivedInstance.findMany({ where: { batchId } });
    expect(rows).toHaveLength(3);
    await settled("UP1", batchId);
    const live = await callerFor(db.prisma, people.sessions.owner).upload.batch({ projectId: "UP1", batchId });
    // MR 0 and 1 were uploaded in the first test already: duplicates now.
    expect(live.counts).toMatchObject({ total: 3, duplicate: 2, deidentified: 1, done: true });
    expect(stagingLeftovers()).toEqual([]);
  }, 60_000);

  it("holds each entry to the size limit (a zip bomb stops there) and refuses what is not a zip", async () => {
    const before = await db.prisma.receivedInstance.count();
    // 64 MB of zeros compresses to ~64 KB; it expands past the 1 MB limit and is stopped.
    const bomb = await zip([{ name: "bomb.dcm", data: Buffer.alloc(64 * 1024 * 1024) }, { name: "ok.dcm", data: ct.bytes }]);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const r = await upload(bomb, { contentType: "application/zip" });
    expect(r.status, r.text).toBe(200);
    expect(r.json!.results[0]).toMatchObject({ name: "bomb.dcm", outcome: "failed" });
    expect(r.json!.results[0]!.reason).toMatch(/larger than the limit of 1 MB/);
    expect(r.json!.results[1]).toMatchObject({ name: "ok.dcm", outcome: "accepted" });
    expect(await db.prisma.receivedInstance.count()).toBe(before + 1);
    expect(await unrecordedDcm()).toEqual([]);

    const notZip = await upload(Buffer.from("PK but not really a zip archive"), { contentType: "application/zip" });
    expect(notZip.status).toBe(400);
    expect(notZip.json!.error).toMatch(/not a readable zip archive/);
    const tooBig = await upload(randomBytes(1024 * 1024 + 10), { contentType: "application/zip" });
    expect(tooBig.status).toBe(413);
    expect(tooBig.json!.error).toMatch(/zip archive is larger than the limit/);
    expect(stagingLeftovers()).toEqual([]);
  }, 60_000);
});

describe("who may upload", () => {
  it("members and owners of the project; not collaborators, outsiders, anonymous callers or another project's members", async () => {
    const before = await db.prisma.receivedInstance.count();
    expect((await upload(ct.bytes, { as: "owner" })).status).toBe(200);
    expect((await upload(ct.bytes, { as: "member" })).status).toBe(200);
    const collaborator = await upload(ct.bytes, { as: "collaborator" });
    expect(collaborator.status).toBe(403);
    expect(collaborator.json!.error!.length).toBeGreaterThan(10);
    expect((await upload(ct.bytes, { as: "outsider" })).status).toBe(404);
    expect((await upload(ct.bytes, { as: null })).status).toBe(401);
    // The member of UP1 is nobody in the private UP2.
    expect((await upload(ct.bytes, { as: "member", project: "UP2" })).status).toBe(404);
    expect((await upload(ct.bytes, { as: "member", project: "NOPE" })).status).toBe(404);
    expect(await db.prisma.receivedInstance.count()).toBe(before + 2);
  });
});
