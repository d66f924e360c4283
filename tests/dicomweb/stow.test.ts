// STOW-RS over real HTTP: the DICOMweb route handlers with real PostgreSQL, Redis and workers.
// Stored means recorded: the rows exist when the response arrives, and de-identification follows.
// Every kind of bad request gets the PS3.18 status and a body that says what is wrong.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { SAMPLES_DIR } from "@/lib/samples";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { setDbHandle } from "@/server/db";
import { createSession, SESSION_COOKIE } from "@/server/auth/session";
import { buildFileMetaHeader } from "@/lib/dicom-net/part10";
import type { RouteServer } from "../helpers/route-server";
import { BOUNDARY, multipart, sample, sequence, startDicomwebServer, STOW_CONTENT_TYPE, uidsOf, type DicomJson, type Sample } from "./helpers";
import { emptyQueuesAndDisconnect } from "../helpers/queues";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-stow-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-stow-${process.pid}-${randomBytes(3).toString("hex")}`;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let server: RouteServer;
let workers: { close(graceMs?: number): Promise<void> };
let token: string; // stow token of STOW1
let otherToken: string; // stow token of STOW2
let readToken: string; // read-only token of STOW1
let mr: Sample[]; // one MR study, several instances
let ct: Sample;

async function stow(body: Buffer | AsyncIterable<Uint8Array>, opts: { path?: string; token?: string | null; contentType?: string; accept?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { "content-type": opts.contentType ?? STOW_CONTENT_TYPE, ...opts.headers };
  const t = opts.token === undefined ? token : opts.token;
  if (t) headers.authorization = `Bearer ${t}`;
  if (opts.accept) headers.accept = opts.accept;
  const res = await fetch(`${server.url}${opts.path ?? "/dicomweb/studies"}`, { method: "POST", headers, body: body as BodyInit, duplex: "half" } as RequestInit);
  const text = await res.text();
  const json = res.headers.get("content-type")?.includes("json") ? (JSON.parse(text) as DicomJson & { error?: string }) : null;
  return { status: res.status, headers: res.headers, text, json };
}

function stagingFiles(): string[] {
  const dir = path.join(dataDir, "staging", "stow");
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Staged files no instance row refers to: what a refused part would leave behind. (Counting files
 * does not work: the workers delete each original once it is de-identified.)
 */
async function unrecordedStagingFiles(): Promise<string[]> {
  const recorded = new Set((await db.prisma.receivedInstance.findMany({ select: { stagingPath: true } })).map((r) => path.basename(r.stagingPath)));
  return stagingFiles().filter((f) => !recorded.has(f));
}

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  for (const id of ["STOW1", "STOW2"]) {
    await db.prisma.project.create({
      data: {
        id,
        idLower: id.toLowerCase(),
        name: id,
        members: { create: [{ userId: people.users.owner.id, role: "owner" }, { userId: people.users.member.id, role: "member" }, { userId: people.users.collaborator.id, role: "collaborator" }] },
      },
    });
  }
  const owner = callerFor(db.prisma, people.sessions.owner);
  token = (await owner.token.create({ projectId: "STOW1", name: "scanner", scopes: ["stow"] })).token;
  otherToken = (await owner.token.create({ projectId: "STOW2", name: "other", scopes: ["stow", "read"] })).token;
  readToken = (await owner.token.create({ projectId: "STOW1", name: "reader", scopes: ["read"] })).token;
  mr = await Promise.all(["53323131", "53323275", "53323419", "53323563"].map((n) => sample(`dwv__bbmri-${n}.dcm`)));
  ct = await sample("dicomParser__ctimage.dcm");
  server = await startDicomwebServer();
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

describe("STOW-RS with a project API token", () => {
  it("stores every instance, recorded before the response, then de-identifies them", async () => {
    const files = [...mr, ct];
    const r = await stow(multipart(files.map((f) => f.bytes)));
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/dicom+json");
    const refs = sequence(r.json!, "00081199");
    expect(uidsOf(refs)).toEqual(files.map((f) => f.sopInstanceUid).sort());
    expect(refs.find((i) => i["00081155"]!.Value![0] === ct.sopInstanceUid)!["00081150"]).toEqual({ vr: "UI", Value: [ct.sopClassUid] });
    expect(r.json!["00081198"]).toBeUndefined();
    // Retrieve URLs are present (Type 2) and empty: no original UID in any Atrium URL.
    expect(r.json!["00081190"]).toEqual({ vr: "UR" });
    for (const item of refs) expect(item["00081190"]).toEqual({ vr: "UR" });

    // Rows exist the moment the response arrives.
    const rows = await db.prisma.receivedInstance.findMany({ where: { projectId: "STOW1", channel: "stow" } });
    expect(rows.map((x) => x.sopInstanceUid).sort()).toEqual(files.map((f) => f.sopInstanceUid).sort());
    expect(new Set(rows.map((x) => x.batchId)).size).toBe(1);
    for (const f of files) {
      const row = rows.find((x) => x.sopInstanceUid === f.sopInstanceUid)!;
      expect(row.sha256).toBe(createHash("sha256").update(f.bytes).digest("hex"));
      expect(row.sizeBytes).toBe(f.bytes.length);
    }

    let pending = rows.length;
    for (let i = 0; i < 300 && pending; i++) {
      await new Promise((res) => setTimeout(res, 100));
      pending = await db.prisma.receivedInstance.count({ where: { projectId: "STOW1", channel: "stow", status: "received" } });
    }
    const done = await db.prisma.receivedInstance.findMany({ where: { projectId: "STOW1", channel: "stow" }, select: { status: true } });
    expect(done.map((d) => d.status)).toEqual(files.map(() => "deidentified"));
  }, 60_000);

  it("answers 202 with the Failed SOP Sequence when some parts are not DICOM or are cut short", async () => {
    const before = await db.prisma.receivedInstance.count();
    const truncated = ct.bytes.subarray(0, Math.floor(ct.bytes.length / 2));
    const r = await stow(multipart([mr[0]!.bytes, Buffer.from("this is a text file, not an image"), truncated]));
    expect(r.status, r.text).toBe(202);
    expect(uidsOf(sequence(r.json!, "00081199"))).toEqual([mr[0]!.sopInstanceUid]);
    const failed = sequence(r.json!, "00081198");
    expect(failed.map((f) => f["00081197"])).toEqual([
      { vr: "US", Value: [0xc000] },
      { vr: "US", Value: [0xc000] },
    ]);
    // The truncated file's UIDs are known from its header; they identify it to the sender.
    expect(failed[1]!["00081155"]).toEqual({ vr: "UI", Value: [ct.sopInstanceUid] });
    const why = r.json!["00091001"]!.Value![0] as string;
    expect(why).toMatch(/part 2 is not a DICOM file/);
    expect(why).toMatch(/part 3 is not a complete DICOM file/);
    expect(r.headers.get("warning")).toMatch(/^299 atrium "2 instance\(s\) not stored: part 2/);
    // Only the good part was recorded, and nothing of the bad ones was left in staging.
    expect(await db.prisma.receivedInstance.count()).toBe(before + 1);
    expect(await unrecordedStagingFiles()).toEqual([]);
  });

  it("answers 409 when no part is DICOM, and 400 for a body that is not multipart at all", async () => {
    const none = await stow(multipart([Buffer.from("hello"), Buffer.alloc(300)]));
    expect(none.status).toBe(409);
    expect(sequence(none.json!, "00081198")).toHaveLength(2);
    expect(none.json!["00081199"]).toBeUndefined();
    const notMultipart = await stow(Buffer.from("just bytes, no boundary anywhere"));
    expect(notMultipart.status).toBe(400);
    expect(notMultipart.json!["00091001"]!.Value![0]).toMatch(/boundary given in Content-Type never appears/);
  });

  it("keeps the parts before a cut-off body and reports the truncation (202), or 400 when nothing came whole", async () => {
    const before = await db.prisma.receivedInstance.count();
    const body = multipart([mr[1]!.bytes, ct.bytes]);
    const cut = body.subarray(0, body.length - 2000); // inside the second part, no close delimiter
    const r = await stow(cut);
    expect(r.status, r.text).toBe(202);
    expect(uidsOf(sequence(r.json!, "00081199"))).toEqual([mr[1]!.sopInstanceUid]);
    expect(r.json!["00091001"]!.Value![0]).toMatch(/cut off/);
    expect(await db.prisma.receivedInstance.count()).toBe(before + 1);
    const only = await stow(multipart([ct.bytes]).subarray(0, 5000));
    expect(only.status).toBe(400);
    expect(await db.prisma.receivedInstance.count()).toBe(before + 1);
    const noClose = await stow(multipart([ct.bytes], { close: false }));
    expect(noClose.status).toBe(400);
    expect(noClose.headers.get("warning")).toMatch(/close delimiter|cut off/);
  });

  it("refuses wrong content types with 415, naming the type it expects", async () => {
    const raw = await stow(ct.bytes, { contentType: "application/dicom" });
    expect(raw.status).toBe(415);
    expect(raw.json!.error).toMatch(/multipart\/related; type="application\/dicom"; boundary=/);
    const json = await stow(multipart([Buffer.from("{}")]), { contentType: `multipart/related; type="application/dicom+json"; boundary=${BOUNDARY}` });
    expect(json.status).toBe(415);
    expect(json.json!.error).toMatch(/only application\/dicom parts/);
    const form = await stow(multipart([ct.bytes]), { contentType: `multipart/form-data; boundary=${BOUNDARY}` });
    expect(form.status).toBe(415);
    const noBoundary = await stow(multipart([ct.bytes]), { contentType: `multipart/related; type="application/dicom"` });
    expect(noBoundary.status).toBe(400);
    expect(noBoundary.json!.error).toMatch(/no boundary/);
    // A part of another type inside a good request fails alone.
    const mixed = await stow(multipart([mr[2]!.bytes, { headers: ["Content-Type: image/jpeg"], body: Buffer.from("JFIF") }]));
    expect(mixed.status).toBe(202);
    expect(mixed.json!["00091001"]!.Value![0]).toMatch(/part 2 has Content-Type image\/jpeg/);
  });

  it("refuses instances over ATRIUM_MAX_INSTANCE_MB: 413 when nothing else was stored, 202 beside good parts", async () => {
    const saved = process.env.ATRIUM_MAX_INSTANCE_MB;
    process.env.ATRIUM_MAX_INSTANCE_MB = "0.25"; // 256 KiB; the CT sample is ~518 KiB, the MR ones ~206 KiB
    try {
      const big = await stow(multipart([ct.bytes]));
      expect(big.status).toBe(413);
      expect(sequence(big.json!, "00081198")[0]!["00081197"]).toEqual({ vr: "US", Value: [0xa700] });
      expect(big.json!["00091001"]!.Value![0]).toMatch(/larger than the limit of 0 MB|larger than the limit/);
      const mixed = await stow(multipart([ct.bytes, mr[3]!.bytes]));
      expect(mixed.status).toBe(202);
      expect(uidsOf(sequence(mixed.json!, "00081199"))).toEqual([mr[3]!.sopInstanceUid]);
      expect(await unrecordedStagingFiles()).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.ATRIUM_MAX_INSTANCE_MB;
      else process.env.ATRIUM_MAX_INSTANCE_MB = saved;
    }
  });

  it("answers in XML when Accept asks for application/dicom+xml", async () => {
    const r = await stow(multipart([mr[0]!.bytes, Buffer.from("junk")]), { accept: "application/dicom+xml" });
    expect(r.status).toBe(202);
    expect(r.headers.get("content-type")).toBe("application/dicom+xml");
    expect(r.text).toContain('<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">');
    expect(r.text).toMatch(/<DicomAttribute tag="00081199" vr="SQ" keyword="ReferencedSOPSequence">\s*<Item number="1">/);
    expect(r.text).toContain(`<Value number="1">${mr[0]!.sopInstanceUid}</Value>`);
    expect(r.text).toMatch(/<DicomAttribute tag="00081197" vr="US" keyword="FailureReason">\s*<Value number="1">49152<\/Value>/);
  });
});

describe("STOW-RS into a study: POST /dicomweb/studies/{study}", () => {
  it("stores the study's instances and fails others with C409, never logging the UID", async () => {
    const study = mr[0]!.studyInstanceUid;
    expect(ct.studyInstanceUid).not.toBe(study);
    const ok = await stow(multipart([mr[0]!.bytes, mr[1]!.bytes]), { path: `/dicomweb/studies/${study}` });
    expect(ok.status, ok.text).toBe(200);
    const mixed = await stow(multipart([mr[2]!.bytes, ct.bytes]), { path: `/dicomweb/studies/${study}` });
    expect(mixed.status).toBe(202);
    const failed = sequence(mixed.json!, "00081198");
    expect(failed).toHaveLength(1);
    expect(failed[0]!["00081197"]).toEqual({ vr: "US", Value: [0xc409] });
    expect(failed[0]!["00081155"]).toEqual({ vr: "UI", Value: [ct.sopInstanceUid] });
    const none = await stow(multipart([ct.bytes]), { path: `/dicomweb/studies/${study}` });
    expect(none.status).toBe(409);
    const bad = await stow(multipart([ct.bytes]), { path: `/dicomweb/studies/not-a-uid` });
    expect(bad.status).toBe(400);
  });
});

describe("who may STOW", () => {
  it("refuses a request without a token, with a malformed, unknown, revoked or expired token (401)", async () => {
    const body = multipart([ct.bytes]);
    const none = await stow(body, { token: null });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="atrium"');
    expect(none.json!.error).toMatch(/Authorization: Bearer atr_/);
    const garbage = await stow(body, { token: "not-a-token" });
    expect(garbage.status).toBe(401);
    expect(garbage.json!.error).toMatch(/not an Atrium API token/);
    const unknown = await stow(body, { token: `atr_${randomBytes(32).toString("base64url")}` });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    expect(unknown.json!.error).toMatch(/Unknown API token/);
    const basic = await stow(body, { token: null, headers: { authorization: "Basic dXNlcjpwYXNz" } });
    expect(basic.status).toBe(401);

    const owner = callerFor(db.prisma, people.sessions.owner);
    const doomed = await owner.token.create({ projectId: "STOW1", name: "doomed", scopes: ["stow"] });
    expect((await stow(multipart([mr[0]!.bytes]), { token: doomed.token })).status).toBe(200);
    await owner.token.revoke({ projectId: "STOW1", tokenId: doomed.id });
    const revoked = await stow(body, { token: doomed.token });
    expect(revoked.status).toBe(401);
    expect(revoked.json!.error).toMatch(/revoked/);

    const expiring = await owner.token.create({ projectId: "STOW1", name: "short", scopes: ["stow"], expiresInDays: 1 });
    await db.prisma.projectApiToken.update({ where: { id: expiring.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const expired = await stow(body, { token: expiring.token });
    expect(expired.status).toBe(401);
    expect(expired.json!.error).toMatch(/expired/);
  });

  it("refuses a token of another project, or without the stow scope (403), for the project route", async () => {
    const before = await db.prisma.receivedInstance.count();
    const other = await stow(multipart([ct.bytes]), { path: "/dicomweb/projects/STOW1/studies", token: otherToken });
    expect(other.status).toBe(403);
    expect(other.json!.error).toMatch(/belongs to another project/);
    const read = await stow(multipart([ct.bytes]), { path: "/dicomweb/projects/STOW1/studies", token: readToken });
    expect(read.status).toBe(403);
    expect(read.json!.error).toMatch(/lacks the "stow" scope/);
    const readOnToken = await stow(multipart([ct.bytes]), { token: readToken });
    expect(readOnToken.status).toBe(403);
    expect(await db.prisma.receivedInstance.count()).toBe(before);
    // The token decides the project: STOW2's token stores into STOW2.
    const own = await stow(multipart([mr[0]!.bytes]), { token: otherToken });
    expect(own.status).toBe(200);
    expect(await db.prisma.receivedInstance.count({ where: { projectId: "STOW2" } })).toBe(1);
    const ownRoute = await stow(multipart([mr[1]!.bytes]), { path: "/dicomweb/projects/STOW2/studies", token: otherToken });
    expect(ownRoute.status).toBe(200);
  });

  it("accepts a signed-in member on the project route, not a collaborator, outsider or anonymous caller", async () => {
    const cookie = async (userId: string) => `${SESSION_COOKIE}=${(await createSession(db.prisma, userId)).token}`;
    const p = "/dicomweb/projects/STOW1/studies";
    const member = await stow(multipart([mr[2]!.bytes]), { path: p, token: null, headers: { cookie: await cookie(people.users.member.id) } });
    expect(member.status, member.text).toBe(200);
    const collaborator = await stow(multipart([mr[2]!.bytes]), { path: p, token: null, headers: { cookie: await cookie(people.users.collaborator.id) } });
    expect(collaborator.status).toBe(403);
    const outsider = await stow(multipart([mr[2]!.bytes]), { path: p, token: null, headers: { cookie: await cookie(people.users.outsider.id) } });
    expect(outsider.status).toBe(404);
    const anonymous = await stow(multipart([mr[2]!.bytes]), { path: p, token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.json!.error).toMatch(/API token/);
    // A session alone names no project: the token route wants a token.
    const sessionOnTokenRoute = await stow(multipart([mr[2]!.bytes]), { token: null, headers: { cookie: await cookie(people.users.member.id) } });
    expect(sessionOnTokenRoute.status).toBe(401);
    expect(sessionOnTokenRoute.json!.error).toMatch(/\/dicomweb\/projects\/\{projectId\}\/studies/);
  });

  it("records when a token was last used, at most once a minute, and audits creation and revocation without the token", async () => {
    const t = await db.prisma.projectApiToken.findFirstOrThrow({ where: { projectId: "STOW1", name: "scanner" } });
    expect(t.lastUsedAt).not.toBeNull();
    expect(t.tokenHash).toBe(createHash("sha256").update(token).digest("hex"));
    await db.prisma.projectApiToken.update({ where: { id: t.id }, data: { lastUsedAt: new Date(Date.now() - 30_000) } });
    const recent = (await db.prisma.projectApiToken.findUniqueOrThrow({ where: { id: t.id } })).lastUsedAt!;
    await stow(multipart([mr[3]!.bytes]));
    expect((await db.prisma.projectApiToken.findUniqueOrThrow({ where: { id: t.id } })).lastUsedAt).toEqual(recent);
    await db.prisma.projectApiToken.update({ where: { id: t.id }, data: { lastUsedAt: new Date(Date.now() - 61_000) } });
    await stow(multipart([mr[3]!.bytes]));
    expect((await db.prisma.projectApiToken.findUniqueOrThrow({ where: { id: t.id } })).lastUsedAt!.getTime()).toBeGreaterThan(Date.now() - 10_000);

    const audit = await db.prisma.auditEvent.findMany({ where: { action: { startsWith: "token." } } });
    expect(audit.map((a) => a.action)).toContain("token.create");
    expect(audit.map((a) => a.action)).toContain("token.revoke");
    const text = JSON.stringify(audit, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    for (const secret of [token, otherToken, readToken]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(createHash("sha256").update(secret).digest("hex"));
    }
    const list = await callerFor(db.prisma, people.sessions.owner).token.list({ projectId: "STOW1" });
    expect(JSON.stringify(list)).not.toContain(token);
    expect(JSON.stringify(list)).not.toMatch(/tokenHash/);
    expect(list.find((x) => x.name === "scanner")!.prefix).toBe(token.slice(0, 12));
  });
});

describe("every shared sample", () => {
  it("is stored by one STOW-RS request, each recorded once", async () => {
    await db.prisma.project.create({ data: { id: "STOW_ALL", idLower: "stow_all", name: "All samples", members: { create: { userId: people.users.owner.id, role: "owner" } } } });
    const t = await callerFor(db.prisma, people.sessions.owner).token.create({ projectId: "STOW_ALL", name: "all", scopes: ["stow"] });
    const names = readdirSync(SAMPLES_DIR).filter((f) => f.endsWith(".dcm")).sort();
    expect(names.length).toBeGreaterThanOrEqual(80);
    const samples = await Promise.all(names.map((n) => readFile(path.join(SAMPLES_DIR, n))));
    const r = await stow(multipart(samples), { token: t.token });
    expect(r.status, r.headers.get("warning") ?? r.text).toBe(200);
    expect(sequence(r.json!, "00081199")).toHaveLength(names.length);
    expect(await db.prisma.receivedInstance.count({ where: { projectId: "STOW_ALL", channel: "stow" } })).toBe(names.length);
  }, 60_000);
});

describe("streaming", () => {
  it("streams a 160 MB instance to staging without holding it in memory", async () => {
    const pixelBytes = 160 * 1024 * 1024;
    const uid = `2.25.${BigInt(`0x${randomBytes(15).toString("hex")}`)}`;
    const el = (g: number, e: number, vr: string, value: Buffer) => {
      const long = ["OB", "OW", "SQ", "UN", "UT"].includes(vr);
      const h = Buffer.alloc(long ? 12 : 8);
      h.writeUInt16LE(g, 0);
      h.writeUInt16LE(e, 2);
      h.write(vr, 4, "latin1");
      if (long) h.writeUInt32LE(value.length, 8);
      else h.writeUInt16LE(value.length, 6);
      return Buffer.concat([h, value]);
    };
    const ui = (s: string) => Buffer.from(s.length % 2 ? `${s}\0` : s, "latin1");
    const head = Buffer.concat([
      buildFileMetaHeader({ sopClassUid: "1.2.840.10008.5.1.4.1.1.7", sopInstanceUid: uid, transferSyntaxUid: "1.2.840.10008.1.2.1" }),
      el(0x0008, 0x0016, "UI", ui("1.2.840.10008.5.1.4.1.1.7")),
      el(0x0008, 0x0018, "UI", ui(uid)),
      el(0x0010, 0x0020, "LO", Buffer.from("BIG1")),
      el(0x0020, 0x000d, "UI", ui(`${uid}.1`)),
      el(0x0020, 0x000e, "UI", ui(`${uid}.2`)),
      el(0x0028, 0x0010, "US", Buffer.from([0x00, 0x50])), // rows 20480
      el(0x0028, 0x0011, "US", Buffer.from([0x00, 0x10])), // columns 4096
      el(0x0028, 0x0100, "US", Buffer.from([16, 0])),
      el(0x0028, 0x0101, "US", Buffer.from([16, 0])),
    ]);
    const pixelHeader = Buffer.alloc(12);
    pixelHeader.writeUInt16LE(0x7fe0, 0);
    pixelHeader.writeUInt16LE(0x0010, 2);
    pixelHeader.write("OW", 4, "latin1");
    pixelHeader.writeUInt32LE(pixelBytes, 8);
    const block = Buffer.alloc(1024 * 1024, 7);
    async function* body() {
      yield Buffer.from(`--${BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`);
      yield Buffer.concat([head, pixelHeader]);
      for (let i = 0; i < pixelBytes / block.length; i++) yield block;
      yield Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
    }
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    let peakAb = 0;
    const timer = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.rss);
      peakAb = Math.max(peakAb, m.arrayBuffers);
    }, 20);
    const started = Date.now();
    // node:http with back-pressure as the client (undici's fetch reads an async-iterable body ahead).
    const r = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${server.url}/dicomweb/studies`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": STOW_CONTENT_TYPE } });
      req.on("error", reject);
      req.on("response", async (res) => {
        let text = "";
        for await (const c of res) text += c;
        resolve({ status: res.statusCode!, text });
      });
      void (async () => {
        for await (const chunk of body()) if (!req.write(chunk)) await new Promise((d) => req.once("drain", d));
        req.end();
      })();
    });
    clearInterval(timer);
    const seconds = (Date.now() - started) / 1000;
    expect(r.status, r.text).toBe(200);
    const row = await db.prisma.receivedInstance.findFirstOrThrow({ where: { sopInstanceUid: uid } });
    expect(row.sizeBytes).toBe(head.length + 12 + pixelBytes);
    expect(statSync(path.join(dataDir, row.stagingPath)).size).toBe(row.sizeBytes);
    // Client and server share this process: a buffered body would add ≥ 160 MB.
    const grewMb = (peak - rssBefore) / 1024 / 1024;
    console.log(`STOW of one ${Math.round(row.sizeBytes / 1024 / 1024)} MB instance: ${seconds.toFixed(1)} s (${(row.sizeBytes / 1024 / 1024 / seconds).toFixed(0)} MB/s), RSS grew ${grewMb.toFixed(0)} MB, array buffers peaked at ${(peakAb / 1024 / 1024).toFixed(0)} MB`);
    expect(grewMb).toBeLessThan(100);
  }, 120_000);
});
