// `atrium start`'s own handler of GET/HEAD /dicomweb/projects/{p}/studies/… (server/dicomweb/
// node-handler) against the Next.js route it stands in for (served as Next.js would, by the route
// server): the same status, headers and bytes for frames, metadata, rendered images, refusals and
// revalidation; JSON gzipped when the client accepts it; everything else left to Next.js.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import type { RouteServer } from "../helpers/route-server";
import { setDbHandle } from "@/server/db";
import { SESSION_COOKIE, createSession } from "@/server/auth/session";
import { dicomwebNodeHandler } from "@/server/dicomweb/node-handler";
import { archiveSamples, startDicomwebReadServer, closeReadTest, type ArchivedFile } from "./read-helpers";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-dicomweb-node-"));
process.env.ATRIUM_DATA_DIR = dataDir;
process.env.ATRIUM_QUEUE_PREFIX = `atrium-dwnode-${process.pid}-${randomBytes(3).toString("hex")}`;

const MR = ["53323131", "53323275", "53323419"].map((n) => `dwv__bbmri-${n}.dcm`);
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let route: RouteServer;
let direct: { url: string; close(): Promise<void> };
let files: ArchivedFile[];
let token: string;
const NEXT_MARK = "answered by next";

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  await db.prisma.project.create({ data: { id: "DWN", idLower: "dwn", name: "DWN", accessibility: "private", members: { create: [{ userId: people.users.owner.id, role: "owner" }] } } });
  token = (await callerFor(db.prisma, people.sessions.owner).token.create({ projectId: "DWN", name: "viewer", scopes: ["read"] })).token;
  files = await archiveSamples(db.prisma, "DWN", MR);
  route = await startDicomwebReadServer();
  // The handler as `atrium start` uses it: what it does not take goes on (here: a marker for Next.js).
  const handler = dicomwebNodeHandler();
  const server = http.createServer((req, res) => {
    if (!handler(req, res)) res.writeHead(418, { "content-type": "text/plain" }).end(NEXT_MARK);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  direct = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}, 120_000);

afterAll(async () => {
  await direct?.close();
  await route?.close();
  await closeReadTest(db, dataDir);
});

/** GET (or HEAD) through node:http, so that Accept-Encoding is what the test says and bodies stay as sent. */
function get(base: string, p: string, headers: Record<string, string> = {}, method = "GET"): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${p}`, { method, headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

const seriesPath = () => `/dicomweb/projects/DWN/studies/${files[0]!.studyInstanceUid}/series/${files[0]!.seriesInstanceUid}`;
const framePath = (f: ArchivedFile) => `${seriesPath()}/instances/${f.sopInstanceUid}/frames/1`;
const SAME_HEADERS = ["content-type", "etag", "vary", "cache-control"];

describe("atrium start's DICOMweb handler", () => {
  it("answers frames, rendered images and refusals as the Next.js route does", async () => {
    for (const [p, headers] of [
      [framePath(files[1]!), { accept: "application/octet-stream; transfer-syntax=*" }],
      [framePath(files[1]!), { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' }],
      [`${seriesPath()}/rendered?image=first`, {}],
      [`${seriesPath()}/instances/1.2.3/frames/1`, {}],
      [`${seriesPath()}/frames/1`, {}],
      [`/dicomweb/projects/NOPE/studies/${files[0]!.studyInstanceUid}/metadata`, {}],
    ] as [string, Record<string, string>][]) {
      const [a, b] = await Promise.all([get(direct.url, p, headers), get(route.url, p, headers)]);
      expect(a.status, p).toBe(b.status);
      // Multipart answers each have a boundary of their own.
      const same = (v: string | string[] | undefined) => (typeof v === "string" ? v.replace(/boundary=[^;]+/, "boundary=B") : v);
      for (const h of SAME_HEADERS) expect(same(a.headers[h]), `${p} ${h}`).toBe(same(b.headers[h]));
      // The route server sends a body of unknown length chunked; this handler knows it.
      expect(Number(a.headers["content-length"] ?? a.body.length), `${p} ${JSON.stringify(a.headers)}`).toBe(a.body.length);
      if (a.headers["content-type"]?.startsWith("multipart/")) {
        const boundary = (s: typeof a) => /boundary=([^;]+)/.exec(s.headers["content-type"]!)![1]!;
        expect(a.body.toString("latin1").split(boundary(a))).toEqual(b.body.toString("latin1").split(boundary(b)));
      } else expect(a.body.equals(b.body), p).toBe(true);
    }
    const frame = await get(direct.url, framePath(files[1]!), { accept: "application/octet-stream; transfer-syntax=*" });
    expect(frame.status).toBe(200);
    expect(Number(frame.headers["content-length"])).toBe(frame.body.length);
    expect(frame.body.length).toBeGreaterThan(100_000);
  });

  it("a session cookie works as on the route; an outsider is told nothing", async () => {
    const cookie = async (userId: string) => `${SESSION_COOKIE}=${(await createSession(db.prisma, userId)).token}`;
    const owner = await get(direct.url, framePath(files[0]!), { authorization: "", cookie: await cookie(people.users.owner.id) });
    expect(owner.status).toBe(200);
    const outsider = await get(direct.url, framePath(files[0]!), { authorization: "", cookie: await cookie(people.users.outsider.id) });
    expect(outsider.status).toBe(404);
    expect(outsider.body.toString()).not.toContain(files[0]!.sopInstanceUid);
  });

  it("gzips metadata for a client that accepts it, and revalidates with If-None-Match; HEAD has no body", async () => {
    const plain = await get(direct.url, `${seriesPath()}/metadata`, { accept: "application/dicom+json" });
    expect(plain.status).toBe(200);
    expect(plain.headers["content-encoding"]).toBeUndefined();
    const viaRoute = await get(route.url, `${seriesPath()}/metadata`, { accept: "application/dicom+json" });
    // The same JSON, its bulk data URIs on the server that was asked.
    expect(plain.body.toString().replaceAll(direct.url, "ORIGIN")).toBe(viaRoute.body.toString().replaceAll(route.url, "ORIGIN"));
    const zipped = await get(direct.url, `${seriesPath()}/metadata`, { accept: "application/dicom+json", "accept-encoding": "gzip, deflate, br" });
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.headers.vary).toBe("Accept, Accept-Encoding");
    expect(zipped.body.length).toBeLessThan(plain.body.length / 2);
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
    // gzip;q=0 refuses it.
    expect((await get(direct.url, `${seriesPath()}/metadata`, { accept: "application/dicom+json", "accept-encoding": "gzip;q=0" })).headers["content-encoding"]).toBeUndefined();
    const again = await get(direct.url, `${seriesPath()}/metadata`, { accept: "application/dicom+json", "if-none-match": plain.headers.etag! });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const head = await get(direct.url, framePath(files[2]!), { accept: "application/octet-stream; transfer-syntax=*" }, "HEAD");
    expect(head.status).toBe(200);
    expect(Number(head.headers["content-length"])).toBeGreaterThan(100_000);
    expect(head.body.length).toBe(0);
  });

  it("leaves to Next.js what is not a GET or HEAD of a study resource, or cannot be decoded", async () => {
    expect((await get(direct.url, "/dicomweb/projects/DWN/studies", {})).body.toString()).toBe(NEXT_MARK);
    expect((await get(direct.url, "/dicomweb/projects/DWN/series", {})).body.toString()).toBe(NEXT_MARK);
    expect((await get(direct.url, `${seriesPath()}/metadata`, {}, "POST")).body.toString()).toBe(NEXT_MARK);
    expect((await get(direct.url, "/dicomweb/projects/%E0%A4%A/studies/1.2", {})).body.toString()).toBe(NEXT_MARK);
    expect((await get(direct.url, "/projects/DWN", {})).body.toString()).toBe(NEXT_MARK);
  });
});
