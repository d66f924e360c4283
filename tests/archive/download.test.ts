// Downloads over real HTTP: GET a scan or an experiment, POST a selection; each answer a zip
// streamed in store mode with an exact Content-Length, laid out subject/experiment/scan/instance.dcm,
// whose entries are byte for byte the stored files. Access: members and owners always,
// collaborators when the owners allow it, "read" tokens; every download audited without PHI;
// a client that goes away stops the zip and closes the files.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { startRouteServer, type RouteServer } from "../helpers/route-server";
import { setDbHandle } from "@/server/db";
import { createSession, SESSION_COOKIE } from "@/server/auth/session";
import { seedSubject, unzip, type SeededExperiment } from "./seed";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "atrium-download-"));
process.env.ATRIUM_DATA_DIR = dataDir;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
let server: RouteServer;
let cookies: Record<"owner" | "member" | "collaborator" | "outsider" | "siteAdmin", string>;
let readToken: string;
let stowToken: string;
let otherReadToken: string;
let subj1: SeededExperiment[]; // SUBJ01: two experiments
let subj2: SeededExperiment[]; // SUBJ02: one experiment
let other: SeededExperiment[]; // project DL2
let bigExp: SeededExperiment[]; // SUBJ03: one large scan

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${url}`, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, json: res.headers.get("content-type")?.includes("json") ? (JSON.parse(body.toString()) as { error: string }) : null };
}
async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${url}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body: buf, json: res.headers.get("content-type")?.includes("json") ? (JSON.parse(buf.toString()) as { error: string }) : null };
}
const as = (who: keyof typeof cookies) => ({ cookie: cookies[who] });
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** name → bytes the zip should hold for these experiments' scans (all instances). */
function expectedFiles(subject: string, exps: SeededExperiment[], onlyScan?: string) {
  const m = new Map<string, Buffer>();
  for (const e of exps) {
    for (const s of e.scans) {
      if (onlyScan && s.id !== onlyScan) continue;
      for (const f of s.files) m.set(`${subject}/${e.label}/${f.instanceNumber}`, f.bytes);
    }
  }
  return m;
}

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  people = await createPeople(db.prisma);
  for (const id of ["DL1", "DL2"]) {
    await db.prisma.project.create({
      data: {
        id,
        idLower: id.toLowerCase(),
        name: id,
        accessibility: "private",
        members: {
          create: [
            { userId: people.users.owner.id, role: "owner" },
            { userId: people.users.member.id, role: "member" },
            { userId: people.users.collaborator.id, role: "collaborator" },
          ],
        },
      },
    });
  }
  subj1 = await seedSubject(db.prisma, dataDir, "DL1", "SUBJ01", [
    { label: "SUBJ01_A1B2C3D4", studyDate: "20240102", scans: [{ seriesNumber: 1, modality: "MR", instances: [1000, 2000, 3000] }, { seriesNumber: 2, modality: "MR", instances: [500] }] },
    { label: "SUBJ01_E5F6A7B8", studyDate: "20240301", scans: [{ seriesNumber: 1, modality: "CT", instances: [700, 800] }] },
  ]);
  subj2 = await seedSubject(db.prisma, dataDir, "DL1", "SUBJ02", [{ label: "SUBJ02_11223344", scans: [{ seriesNumber: 5, modality: "CT", instances: [1234] }] }]);
  bigExp = await seedSubject(db.prisma, dataDir, "DL1", "SUBJ03", [
    { label: "SUBJ03_BIG00001", scans: [{ seriesNumber: 1, modality: "CT", instances: Array.from({ length: 40 }, () => 1024 * 1024) }] },
  ]);
  other = await seedSubject(db.prisma, dataDir, "DL2", "OTHER01", [{ label: "OTHER01_99999999", scans: [{ seriesNumber: 1, modality: "US", instances: [100] }] }]);
  const cookie = async (userId: string) => `${SESSION_COOKIE}=${(await createSession(db.prisma, userId)).token}`;
  cookies = {
    owner: await cookie(people.users.owner.id),
    member: await cookie(people.users.member.id),
    collaborator: await cookie(people.users.collaborator.id),
    outsider: await cookie(people.users.outsider.id),
    siteAdmin: await cookie(people.users.siteAdmin.id),
  };
  const owner = callerFor(db.prisma, people.sessions.owner);
  readToken = (await owner.token.create({ projectId: "DL1", name: "reader", scopes: ["read"] })).token;
  stowToken = (await owner.token.create({ projectId: "DL1", name: "sender", scopes: ["stow"] })).token;
  otherReadToken = (await owner.token.create({ projectId: "DL2", name: "other reader", scopes: ["read"] })).token;
  const route = await import("@/app/api/projects/[projectId]/download/route");
  const pattern = /^\/api\/projects\/(?<projectId>[^/]+)\/download\/?$/;
  server = await startRouteServer([
    { method: "GET", pattern, handler: (req, ctx) => route.GET(req, ctx as { params: Promise<{ projectId: string }> }) },
    { method: "POST", pattern, handler: (req, ctx) => route.POST(req, ctx as { params: Promise<{ projectId: string }> }) },
  ]);
}, 120_000);

afterAll(async () => {
  await server?.close();
  setDbHandle(undefined);
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The zip's entries with the instance file name reduced to its number, for comparison. */
async function entriesOf(zip: Buffer) {
  const got = await unzip(zip);
  const m = new Map<string, Buffer>();
  for (const [name, bytes] of got) {
    const parts = name.split("/");
    expect(parts, name).toHaveLength(4);
    m.set(`${parts[0]}/${parts[1]}/${Number(parts[3]!.replace(/\.dcm$/, ""))}`, bytes);
  }
  return { names: [...got.keys()], files: m };
}

function expectSameFiles(got: Map<string, Buffer>, want: Map<string, Buffer>) {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [k, v] of want) expect(got.get(k)!.equals(v), k).toBe(true);
}

describe("GET a scan or an experiment", () => {
  it("a scan: a stored zip with an exact Content-Length, entries subject/experiment/scan/instance.dcm equal to the stored files", async () => {
    const scan = subj1[0]!.scans[0]!;
    const r = await get(`/api/projects/DL1/download?scan=${scan.id}`, as("member"));
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/zip");
    expect(Number(r.headers.get("content-length"))).toBe(r.body.length);
    expect(r.headers.get("content-disposition")).toBe('attachment; filename="DL1_SUBJ01_A1B2C3D4_scan1.zip"');
    const { names, files } = await entriesOf(r.body);
    expect(names).toEqual(["SUBJ01/SUBJ01_A1B2C3D4/1-MR/000001.dcm", "SUBJ01/SUBJ01_A1B2C3D4/1-MR/000002.dcm", "SUBJ01/SUBJ01_A1B2C3D4/1-MR/000003.dcm"]);
    expectSameFiles(files, expectedFiles("SUBJ01", [subj1[0]!], scan.id));
    // Store mode: the zip is the files plus headers, not compressed.
    expect(r.body.length).toBeGreaterThan(6000);
  });

  it("an experiment: all its scans", async () => {
    const r = await get(`/api/projects/DL1/download?experiment=${subj1[0]!.id}`, as("owner"));
    expect(r.status).toBe(200);
    expect(Number(r.headers.get("content-length"))).toBe(r.body.length);
    const got = await unzip(r.body);
    expect([...got.keys()]).toEqual([
      "SUBJ01/SUBJ01_A1B2C3D4/1-MR/000001.dcm",
      "SUBJ01/SUBJ01_A1B2C3D4/1-MR/000002.dcm",
      "SUBJ01/SUBJ01_A1B2C3D4/1-MR/000003.dcm",
      "SUBJ01/SUBJ01_A1B2C3D4/2-MR/000001.dcm",
    ]);
    for (const f of subj1[0]!.scans[0]!.files) expect(got.get(`SUBJ01/SUBJ01_A1B2C3D4/1-MR/00000${f.instanceNumber}.dcm`)!.equals(f.bytes)).toBe(true);
    expect(got.get("SUBJ01/SUBJ01_A1B2C3D4/2-MR/000001.dcm")!.equals(subj1[0]!.scans[1]!.files[0]!.bytes)).toBe(true);
  });

  it("is audited: what (ids and counts), who, how; no labels or UIDs", async () => {
    const before = await db.prisma.auditEvent.count({ where: { projectId: "DL1", action: "archive.download" } });
    await get(`/api/projects/DL1/download?experiment=${subj2[0]!.id}`, as("member"));
    const events = await db.prisma.auditEvent.findMany({ where: { projectId: "DL1", action: "archive.download" }, orderBy: { id: "asc" } });
    expect(events.length).toBe(before + 1);
    const e = events.at(-1)!;
    expect(e.actorId).toBe(people.users.member.id);
    expect(e.targetType).toBe("experiment");
    expect(e.targetId).toBe(subj2[0]!.id);
    expect(e.after).toMatchObject({ subjects: 1, experiments: 1, scans: 1, instances: 1, bytes: 1234, experimentIds: [subj2[0]!.id], scanIds: [subj2[0]!.scans[0]!.id], via: "session" });
    const text = JSON.stringify(e.after);
    expect(text).not.toContain("SUBJ02");
    expect(text).not.toContain(subj2[0]!.studyInstanceUid);
  });
});

describe("POST a selection", () => {
  it("scans and experiments together, each file once, across subjects", async () => {
    const sel = { scans: [subj1[0]!.scans[1]!.id, subj1[1]!.scans[0]!.id], experiments: [subj1[1]!.id, subj2[0]!.id] };
    const r = await post("/api/projects/DL1/download", sel, as("owner"));
    expect(r.status, r.body.toString()).toBe(200);
    expect(Number(r.headers.get("content-length"))).toBe(r.body.length);
    expect(r.headers.get("content-disposition")).toBe('attachment; filename="DL1_selection.zip"');
    const got = await unzip(r.body);
    expect([...got.keys()]).toEqual([
      "SUBJ01/SUBJ01_A1B2C3D4/2-MR/000001.dcm",
      "SUBJ01/SUBJ01_E5F6A7B8/1-CT/000001.dcm",
      "SUBJ01/SUBJ01_E5F6A7B8/1-CT/000002.dcm",
      "SUBJ02/SUBJ02_11223344/5-CT/000001.dcm",
    ]);
    expect(got.get("SUBJ01/SUBJ01_E5F6A7B8/1-CT/000002.dcm")!.equals(subj1[1]!.scans[0]!.files[1]!.bytes)).toBe(true);
    expect(got.get("SUBJ02/SUBJ02_11223344/5-CT/000001.dcm")!.equals(subj2[0]!.scans[0]!.files[0]!.bytes)).toBe(true);
    const e = await db.prisma.auditEvent.findFirstOrThrow({ where: { projectId: "DL1", action: "archive.download", targetType: "selection" }, orderBy: { id: "desc" } });
    expect(e.after).toMatchObject({ subjects: 2, experiments: 3, scans: 3, instances: 4 });
  });

  it("whole subjects by label: every file of their experiments; a subject of another project is refused", async () => {
    const r = await post("/api/projects/DL1/download", { subjects: ["SUBJ01", "SUBJ02"], experiments: [subj2[0]!.id] }, as("owner"));
    expect(r.status, r.body.toString()).toBe(200);
    const got = await unzip(r.body);
    const want = await db.prisma.archiveInstance.count({ where: { scan: { experiment: { projectId: "DL1", subject: { label: { in: ["SUBJ01", "SUBJ02"] } } } } } });
    expect(got.size).toBe(want);
    expect([...got.keys()].every((k) => k.startsWith("SUBJ01/") || k.startsWith("SUBJ02/"))).toBe(true);
    const foreign = await post("/api/projects/DL1/download", { subjects: ["OTHER01"] }, as("owner"));
    expect(foreign.status).toBe(404);
    expect(foreign.json!.error).toMatch(/has no subject OTHER01 with experiments in its local archive/);
  });

  it("refuses what is not in the project, an empty or malformed selection, and a non-JSON body, saying what to send", async () => {
    const foreign = await post("/api/projects/DL1/download", { scans: [other[0]!.scans[0]!.id] }, as("owner"));
    expect(foreign.status).toBe(404);
    expect(foreign.json!.error).toMatch(/no 1 scan\(s\).*Reload the Browse tab/);
    expect((await post("/api/projects/DL1/download", { scans: [] }, as("owner"))).json!.error).toMatch(/selection is empty/);
    expect((await post("/api/projects/DL1/download", "{nope", as("owner"))).status).toBe(400);
    const form = await post("/api/projects/DL1/download", "scans=a", { ...as("owner"), "content-type": "application/x-www-form-urlencoded" });
    expect(form.status).toBe(415);
    const bad = await get("/api/projects/DL1/download", as("owner"));
    expect(bad.status).toBe(400);
    expect(bad.json!.error).toMatch(/\?scan=<scan id> or \?experiment=<experiment id>/);
    expect((await get(`/api/projects/DL1/download?experiment=${other[0]!.id}`, as("owner"))).status).toBe(404);
  });
});

describe("who may download", () => {
  const url = () => `/api/projects/DL1/download?scan=${subj2[0]!.scans[0]!.id}`;

  it("not signed in: 401 (before the body is read); outsiders of a private project: 404", async () => {
    const anon = await get(url());
    expect(anon.status).toBe(401);
    expect(anon.json!.error).toMatch(/sign in/i);
    expect((await post("/api/projects/DL1/download", "{nope")).status).toBe(401);
    expect((await get(url(), as("outsider"))).status).toBe(404);
  });

  it("collaborators only when the owners allow it, and the refusal says whom to ask and what to turn on", async () => {
    const refused = await get(url(), as("collaborator"));
    expect(refused.status).toBe(403);
    expect(refused.json!.error).toMatch(/Ask a project owner to turn on "Collaborators may download"/);
    expect((await post("/api/projects/DL1/download", { scans: [subj2[0]!.scans[0]!.id] }, as("collaborator"))).status).toBe(403);

    const owner = callerFor(db.prisma, people.sessions.owner);
    await owner.browse.setCollaboratorDownload({ projectId: "DL1", allowed: true });
    const allowed = await get(url(), as("collaborator"));
    expect(allowed.status).toBe(200);
    expect((await unzip(allowed.body)).size).toBe(1);

    await owner.browse.setCollaboratorDownload({ projectId: "DL1", allowed: false });
    expect((await get(url(), as("collaborator"))).status).toBe(403);
    const toggles = await db.prisma.auditEvent.findMany({ where: { projectId: "DL1", action: "project.collaboratorDownload" }, orderBy: { id: "asc" } });
    expect(toggles.map((t) => t.after)).toEqual([{ allowCollaboratorDownload: true }, { allowCollaboratorDownload: false }]);
  });

  it("members, owners and site admins always", async () => {
    for (const who of ["member", "owner", "siteAdmin"] as const) expect((await get(url(), as(who))).status, who).toBe(200);
  });

  it("a read token of the project yes (audited as the token); a stow token or another project's token no", async () => {
    const ok = await get(url(), bearer(readToken));
    expect(ok.status).toBe(200);
    const e = await db.prisma.auditEvent.findFirstOrThrow({ where: { projectId: "DL1", action: "archive.download" }, orderBy: { id: "desc" } });
    expect(e.actorId).toBeNull();
    expect(e.after).toMatchObject({ via: "token", tokenName: "reader" });
    const stow = await get(url(), bearer(stowToken));
    expect(stow.status).toBe(403);
    expect(stow.json!.error).toMatch(/"read" scope/);
    expect((await get(url(), bearer(otherReadToken))).status).toBe(403);
    expect((await get(url(), bearer("atr_" + "x".repeat(43)))).status).toBe(401);
  });
});

describe("a client that goes away", () => {
  const openArchiveFiles = () =>
    readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(path.join(dataDir, "archive"));
      } catch {
        return false;
      }
    }).length;

  it("stops the zip: no file of the archive stays open, and the server keeps serving", async () => {
    const url = new URL(`${server.url}/api/projects/DL1/download?experiment=${bigExp[0]!.id}`);
    const total = await new Promise<number>((resolve, reject) => {
      const req = http.get(url, { headers: as("owner") }, (res) => {
        expect(res.statusCode).toBe(200);
        const length = Number(res.headers["content-length"]);
        let got = 0;
        res.on("data", (c: Buffer) => {
          got += c.length;
          if (got > 2 * 1024 * 1024) {
            req.destroy();
            resolve(length);
          }
        });
        res.on("error", () => undefined);
      });
      req.on("error", (e) => (String(e).includes("socket hang up") ? undefined : reject(e)));
    });
    expect(total).toBeGreaterThan(40 * 1024 * 1024);
    let open = openArchiveFiles();
    for (let i = 0; i < 50 && open; i++) {
      await new Promise((r) => setTimeout(r, 50));
      open = openArchiveFiles();
    }
    expect(open).toBe(0);
    expect((await get(`/api/projects/DL1/download?scan=${subj2[0]!.scans[0]!.id}`, as("owner"))).status).toBe(200);
  });
});
