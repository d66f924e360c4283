// The access matrix: every tRPC procedure × every kind of caller × every project accessibility.
// Expected outcomes are written from the issue's rules, independently of lib/access.
// A procedure in appRouter without a row here fails the first test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import { appRouter } from "@/server/routers";
import { createTestDatabase } from "../helpers/pg";
import { actors, callerFor, createPeople, createProjectFixture, snapshot, type Actor, type People, type ProjectFixture } from "../helpers/fixtures";

type Accessibility = "private" | "protected" | "public";
type Level = "none" | "listed" | "collaborator" | "member" | "owner";
type Requirement = "public" | "signedIn" | "siteAdmin" | Exclude<Level, "none">;

/** What each caller may do in a project, as the Foundation issue states it. */
const LEVEL: Record<Actor, Record<Accessibility, Level>> = {
  anonymous: { private: "none", protected: "none", public: "none" },
  outsider: { private: "none", protected: "listed", public: "collaborator" },
  collaborator: { private: "collaborator", protected: "collaborator", public: "collaborator" },
  member: { private: "member", protected: "member", public: "member" },
  owner: { private: "owner", protected: "owner", public: "owner" },
  siteAdmin: { private: "owner", protected: "owner", public: "owner" },
};
const ORDER: Level[] = ["none", "listed", "collaborator", "member", "owner"];

interface Row {
  requires: Requirement;
  mutates: boolean;
  input: (f: ProjectFixture, people: People, n: number) => unknown;
}

const MATRIX: Record<string, Row> = {
  "me.get": { requires: "public", mutates: false, input: () => undefined },
  "project.list": { requires: "signedIn", mutates: false, input: () => ({}) },
  "project.create": { requires: "signedIn", mutates: true, input: (_f, _p, n) => ({ id: `NEW_${n}`, name: "New" }) },
  "project.get": { requires: "listed", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "project.update": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, name: "Renamed" }) },
  "member.list": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "member.invite": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, email: "newcomer@atrium.test", role: "collaborator" }),
  },
  "member.changeRole": {
    requires: "owner",
    mutates: true,
    input: (f, p) => ({ projectId: f.projectId, userId: p.users.target.id, role: "collaborator" }),
  },
  "member.remove": { requires: "owner", mutates: true, input: (f, p) => ({ projectId: f.projectId, userId: p.users.target.id }) },
  "member.cancelInvitation": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, invitationId: f.invitationId }),
  },
  "audit.list": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "admin.users": { requires: "siteAdmin", mutates: false, input: () => undefined },
  "intake.settings": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "intake.updateSettings": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, stableAfterSeconds: 30 }) },
  "intake.addAeRoute": { requires: "owner", mutates: true, input: (f, _p, n) => ({ projectId: f.projectId, aeTitle: `NEWAE${n}` }) },
  "intake.removeAeRoute": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, aeTitle: f.aeTitle }) },
  "intake.summary": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "intake.quarantine": { requires: "member", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  // Viewing identifying header values is itself audited: an allowed call writes an audit event.
  "intake.originalHeader": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.quarantinedId }) },
  "intake.retry": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.quarantinedId }) },
  "intake.deleteQuarantined": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, instanceId: f.quarantinedId }) },
  "token.list": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "token.create": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, name: "PACS export", scopes: ["stow"] }) },
  "token.revoke": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, tokenId: f.tokenId }) },
  // Webhook sources hold signing secrets and node credentials: owners only.
  "webhook.list": { requires: "owner", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "webhook.create": {
    requires: "owner",
    mutates: true,
    input: (f) => ({ projectId: f.projectId, name: "PACS", nodeKind: "orthanc", nodeUrl: "http://orthanc.example:8042" }),
  },
  "webhook.setEnabled": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, sourceId: f.webhookSourceId, enabled: false }) },
  "webhook.rotateSecret": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, sourceId: f.webhookSourceId }) },
  "webhook.remove": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, sourceId: f.webhookSourceId }) },
  // Browsing the archive reads data: collaborators. Whether collaborators may download: owners.
  "browse.overview": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId }) },
  "browse.subjects": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, search: "FIX" }) },
  "browse.experiments": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, subject: "FIXSUBJ" }) },
  "browse.scans": { requires: "collaborator", mutates: false, input: (f) => ({ projectId: f.projectId, experimentId: f.archiveExperimentId }) },
  "browse.setCollaboratorDownload": { requires: "owner", mutates: true, input: (f) => ({ projectId: f.projectId, allowed: true }) },
};

type Expected = { allowed: true } | { allowed: false; code: "UNAUTHORIZED" | "FORBIDDEN" | "NOT_FOUND" };

function expected(row: Row, actor: Actor, acc: Accessibility): Expected {
  if (row.requires === "public") return { allowed: true };
  if (actor === "anonymous") return { allowed: false, code: "UNAUTHORIZED" };
  if (row.requires === "signedIn") return { allowed: true };
  if (row.requires === "siteAdmin") return actor === "siteAdmin" ? { allowed: true } : { allowed: false, code: "FORBIDDEN" };
  const level = LEVEL[actor][acc];
  if (level === "none") return { allowed: false, code: "NOT_FOUND" };
  return ORDER.indexOf(level) >= ORDER.indexOf(row.requires) ? { allowed: true } : { allowed: false, code: "FORBIDDEN" };
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
});
afterAll(async () => {
  await db?.drop();
  const { closeQueues, getQueue } = await import("@/server/queues");
  await getQueue("deid").obliterate({ force: true });
  await closeQueues();
  await (await import("@/server/redis")).closeSharedRedis();
});

it("every procedure of the API has a row in the matrix, and every row names a procedure", () => {
  const procedures = Object.keys(appRouter._def.procedures).sort();
  expect(procedures).toEqual(Object.keys(MATRIX).sort());
});

let n = 0;
for (const [path, row] of Object.entries(MATRIX)) {
  describe(path, () => {
    for (const acc of ["private", "protected", "public"] as const) {
      for (const actor of actors) {
        const want = expected(row, actor, acc);
        it(`${actor} on a ${acc} project: ${want.allowed ? "allowed" : `denied (${want.code})`}`, async () => {
          const i = ++n;
          const fixture = await createProjectFixture(db.prisma, people, `P${i}_${acc.slice(0, 3)}`, acc);
          const caller = callerFor(db.prisma, people.sessions[actor]) as unknown as Record<string, Record<string, (x: unknown) => Promise<unknown>>>;
          const [group, proc] = path.split(".") as [string, string];
          const before = await snapshot(db.prisma);
          let error: unknown = null;
          try {
            await caller[group]![proc]!(row.input(fixture, people, i));
          } catch (e) {
            error = e;
          }
          const after = await snapshot(db.prisma);
          if (want.allowed) {
            expect(error, `expected ${path} to be allowed for ${actor}`).toBeNull();
            if (row.mutates) expect(after, "an allowed change must change something (and audit it)").not.toEqual(before);
            else expect(after).toEqual(before);
          } else {
            expect(error).toBeInstanceOf(TRPCError);
            expect((error as TRPCError).code).toBe(want.code);
            expect((error as TRPCError).message.length).toBeGreaterThan(10);
            expect(after, "a denied call must change nothing").toEqual(before);
          }
        });
      }
    }
  });
}

describe("what each caller sees", () => {
  it("project.list shows members their projects, everyone the protected and public ones, admins all", async () => {
    const p = await createPeople(db.prisma, "-list");
    const priv = await createProjectFixture(db.prisma, p, "LIST_PRIV", "private");
    const prot = await createProjectFixture(db.prisma, p, "LIST_PROT", "protected");
    const pub = await createProjectFixture(db.prisma, p, "LIST_PUB", "public");
    const ids = async (who: People["sessions"][Actor]) =>
      (await callerFor(db.prisma, who).project.list({ search: "LIST_" })).map((x) => x.id).sort();
    expect(p.sessions.siteAdmin?.siteAdmin, "only ATRIUM_ADMINS are site admins").toBe(false);
    expect(await ids(p.sessions.siteAdmin)).toEqual([prot.projectId, pub.projectId].sort());
    expect(await ids(p.sessions.outsider)).toEqual([prot.projectId, pub.projectId].sort());
    expect(await ids(p.sessions.collaborator)).toEqual([priv.projectId, prot.projectId, pub.projectId].sort());
    expect(await ids(people.sessions.siteAdmin)).toEqual([priv.projectId, prot.projectId, pub.projectId].sort());
  });

  it("member.list hides pending invitations from everyone but owners", async () => {
    const f = await createProjectFixture(db.prisma, people, "INV_VIS", "private");
    const asMember = await callerFor(db.prisma, people.sessions.member).member.list({ projectId: f.projectId });
    const asOwner = await callerFor(db.prisma, people.sessions.owner).member.list({ projectId: f.projectId });
    expect(asMember.invitations).toEqual([]);
    expect(asOwner.invitations.map((i) => i.id)).toEqual([f.invitationId]);
  });
});

// HTTP routes of a project, over real HTTP: each caller × accessibility, as the same rules say.
describe("HTTP: download from the archive (GET and POST /api/projects/{id}/download)", () => {
  let server: import("../helpers/route-server").RouteServer;
  const cookies = {} as Record<Actor, string | null>;
  beforeAll(async () => {
    const { setDbHandle } = await import("@/server/db");
    const { createSession, SESSION_COOKIE } = await import("@/server/auth/session");
    const { startRouteServer } = await import("../helpers/route-server");
    setDbHandle(Promise.resolve(db.handle));
    for (const a of actors) {
      cookies[a] = a === "anonymous" ? null : `${SESSION_COOKIE}=${(await createSession(db.prisma, people.users[a].id)).token}`;
    }
    const route = await import("@/app/api/projects/[projectId]/download/route");
    const pattern = /^\/api\/projects\/(?<projectId>[^/]+)\/download$/;
    server = await startRouteServer([
      { method: "GET", pattern, handler: (req, ctx) => route.GET(req, ctx as { params: Promise<{ projectId: string }> }) },
      { method: "POST", pattern, handler: (req, ctx) => route.POST(req, ctx as { params: Promise<{ projectId: string }> }) },
    ]);
  });
  afterAll(async () => {
    await server?.close();
    (await import("@/server/db")).setDbHandle(undefined);
  });

  /** Downloading needs read access, and for collaborators the project's permission. */
  function expectedStatus(actor: Actor, acc: Accessibility, allowCollaboratorDownload: boolean): number {
    if (actor === "anonymous") return 401;
    const level = LEVEL[actor][acc];
    if (level === "none") return 404;
    if (level === "listed") return 403;
    if (level === "collaborator") return allowCollaboratorDownload ? 200 : 403;
    return 200;
  }

  for (const acc of ["private", "protected", "public"] as const) {
    for (const allow of [false, true]) {
      for (const actor of actors) {
        const want = expectedStatus(actor, acc, allow);
        it(`${actor} on a ${acc} project${allow ? " allowing collaborator download" : ""}: ${want}`, async () => {
          const i = ++n;
          const f = await createProjectFixture(db.prisma, people, `D${i}_${acc.slice(0, 3)}`, acc);
          if (allow) await db.prisma.project.update({ where: { id: f.projectId }, data: { allowCollaboratorDownload: true } });
          const headers: Record<string, string> = cookies[actor] ? { cookie: cookies[actor]! } : {};
          const before = await db.prisma.auditEvent.count({ where: { projectId: f.projectId, action: "archive.download" } });
          const g = await fetch(`${server.url}/api/projects/${f.projectId}/download?experiment=${f.archiveExperimentId}`, { headers });
          const p = await fetch(`${server.url}/api/projects/${f.projectId}/download`, {
            method: "POST",
            headers: { ...headers, "content-type": "application/json" },
            body: JSON.stringify({ experiments: [f.archiveExperimentId] }),
          });
          for (const r of [g, p]) {
            expect(r.status).toBe(want);
            if (want === 200) expect(r.headers.get("content-type")).toBe("application/zip");
            else expect(((await r.json()) as { error: string }).error.length).toBeGreaterThan(10);
            if (want === 200) await r.arrayBuffer();
          }
          const after = await db.prisma.auditEvent.count({ where: { projectId: f.projectId, action: "archive.download" } });
          expect(after - before, "every download is audited, a refusal is not a download").toBe(want === 200 ? 2 : 0);
        });
      }
    }
  }
});

// ---- HTTP routes: DICOMweb over the local archive (and STOW-RS into a project) ------------------
// Every route file under app/dicomweb/projects/ × every caller (sessions and API tokens) × every
// accessibility. Reads need collaborator (or a token with the "read" scope), STOW needs member (or
// "stow"). A route file or method without a row here fails the first test of this block.
describe("DICOMweb routes (HTTP)", () => {
  type Method = "GET" | "POST";
  interface HttpRow {
    requires: "collaborator" | "member";
    scope: "read" | "stow";
    /** The route file under app/dicomweb/projects/[projectId]/ and its method. */
    file: string;
    method: Method;
    /** The path below /dicomweb/projects/{p}/ and the catch-all segments the route gets. */
    path: (s: ArchivedIds) => string;
  }
  interface ArchivedIds {
    study: string;
    series: string;
    sop: string;
  }
  const inst = (s: ArchivedIds) => `studies/${s.study}/series/${s.series}/instances/${s.sop}`;
  const HTTP: Record<string, HttpRow> = {
    "QIDO studies": { requires: "collaborator", scope: "read", file: "studies/route.ts", method: "GET", path: () => "studies" },
    "STOW-RS into the project": { requires: "member", scope: "stow", file: "studies/route.ts", method: "POST", path: () => "studies" },
    "QIDO series (project)": { requires: "collaborator", scope: "read", file: "series/route.ts", method: "GET", path: () => "series" },
    "QIDO instances (project)": { requires: "collaborator", scope: "read", file: "instances/route.ts", method: "GET", path: () => "instances" },
    "WADO study": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}` },
    "WADO study metadata": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/metadata` },
    "QIDO series of a study": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series` },
    "QIDO instances of a study": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/instances` },
    "study thumbnail": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/thumbnail` },
    "WADO series": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series/${s.series}` },
    "WADO series metadata": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series/${s.series}/metadata` },
    "QIDO instances of a series": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series/${s.series}/instances` },
    "series thumbnail": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `studies/${s.study}/series/${s.series}/thumbnail` },
    "WADO instance": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => inst(s) },
    "WADO instance metadata": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/metadata` },
    "WADO frames": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/frames/1` },
    "WADO bulkdata": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/bulkdata/7FE00010` },
    "instance rendered": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/rendered` },
    "instance thumbnail": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/thumbnail` },
    "frame rendered": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/frames/1/rendered` },
    "frame thumbnail": { requires: "collaborator", scope: "read", file: "studies/[...path]/route.ts", method: "GET", path: (s) => `${inst(s)}/frames/1/thumbnail` },
  };
  const tokenKinds = ["readToken", "stowToken", "otherProjectToken"] as const;
  type Caller = Actor | (typeof tokenKinds)[number];
  const ROUTES_DIR = "app/dicomweb/projects/[projectId]";
  const SAMPLE = "pydicom__CT_small.dcm";

  const projects = {} as Record<Accessibility, { id: string; ids: ArchivedIds }>;
  const cookies = {} as Record<Actor, string | null>;
  const tokens = {} as Record<Accessibility, Record<(typeof tokenKinds)[number], string>>;
  const routeModules = new Map<string, Record<Method, (req: Request, ctx: { params: Promise<Record<string, unknown>> }) => Promise<Response>>>();
  let dataDir: string;
  let previousDataDir: string | undefined;

  beforeAll(async () => {
    const os = await import("node:os");
    const fs = await import("node:fs");
    const path = await import("node:path");
    const { setDbHandle } = await import("@/server/db");
    const { createSession, SESSION_COOKIE } = await import("@/server/auth/session");
    const { generateToken } = await import("@/lib/tokens");
    const { archiveSamples } = await import("../dicomweb/read-helpers");
    previousDataDir = process.env.ATRIUM_DATA_DIR;
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "atrium-matrix-dicomweb-"));
    process.env.ATRIUM_DATA_DIR = dataDir;
    setDbHandle(Promise.resolve(db.handle));
    for (const actor of actors) {
      const user = actor === "anonymous" ? null : people.users[actor];
      cookies[actor] = user ? `${SESSION_COOKIE}=${(await createSession(db.prisma, user.id)).token}` : null;
    }
    const other = await createProjectFixture(db.prisma, people, "DW_OTHER", "private");
    for (const acc of ["private", "protected", "public"] as const) {
      const f = await createProjectFixture(db.prisma, people, `DW_${acc.slice(0, 3)}`, acc);
      const [file] = await archiveSamples(db.prisma, f.projectId, [SAMPLE]);
      projects[acc] = { id: f.projectId, ids: { study: file!.studyInstanceUid, series: file!.seriesInstanceUid, sop: file!.sopInstanceUid } };
      const mk = async (projectId: string, scopes: string[]) => {
        const t = generateToken();
        await db.prisma.projectApiToken.create({ data: { projectId, name: "matrix", prefix: t.prefix, tokenHash: t.tokenHash, scopes, createdById: people.users.owner.id } });
        return t.token;
      };
      tokens[acc] = { readToken: await mk(f.projectId, ["read"]), stowToken: await mk(f.projectId, ["stow"]), otherProjectToken: await mk(other.projectId, ["read", "stow"]) };
    }
    for (const file of new Set(Object.values(HTTP).map((r) => r.file))) {
      routeModules.set(file, (await import(/* @vite-ignore */ path.resolve(ROUTES_DIR, file))) as never);
    }
  });
  afterAll(async () => {
    const fs = await import("node:fs");
    const { setDbHandle } = await import("@/server/db");
    setDbHandle(undefined);
    if (previousDataDir === undefined) delete process.env.ATRIUM_DATA_DIR;
    else process.env.ATRIUM_DATA_DIR = previousDataDir;
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("every route file under app/dicomweb/projects/ and each of its methods has a row", async () => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === "route.ts") {
          const src = fs.readFileSync(p, "utf8");
          for (const m of src.matchAll(/export async function (GET|POST|PUT|DELETE|PATCH|HEAD)\b/g)) found.push(`${m[1]} ${path.relative(ROUTES_DIR, p)}`);
        }
      }
    };
    walk(ROUTES_DIR);
    const rows = new Set(Object.values(HTTP).map((r) => `${r.method} ${r.file}`));
    expect([...new Set(found)].sort()).toEqual([...rows].sort());
  });

  function expectedStatus(row: HttpRow, caller: Caller, acc: Accessibility): number | "allowed" {
    if (caller === "readToken") return row.scope === "read" ? "allowed" : 403;
    if (caller === "stowToken") return row.scope === "stow" ? "allowed" : 403;
    if (caller === "otherProjectToken") return 403;
    const want = expected({ requires: row.requires, mutates: false, input: () => undefined }, caller, acc);
    return want.allowed ? "allowed" : { UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404 }[want.code];
  }

  for (const [name, row] of Object.entries(HTTP)) {
    describe(`${row.method} /dicomweb/projects/{p}/${row.path({ study: "{study}", series: "{series}", sop: "{sop}" })} (${name})`, () => {
      for (const acc of ["private", "protected", "public"] as const) {
        for (const caller of [...actors, ...tokenKinds] as Caller[]) {
          const want = expectedStatus(row, caller, acc);
          it(`${caller} on a ${acc} project: ${want === "allowed" ? "allowed" : `denied (${want})`}`, async () => {
            const p = projects[acc];
            const sub = row.path(p.ids);
            const headers = new Headers();
            if ((actors as readonly string[]).includes(caller)) {
              const c = cookies[caller as Actor];
              if (c) headers.set("cookie", c);
            } else headers.set("authorization", `Bearer ${tokens[acc][caller as (typeof tokenKinds)[number]]}`);
            if (row.method === "POST") headers.set("content-type", "text/plain");
            const req = new Request(`http://atrium.test/dicomweb/projects/${p.id}/${sub}`, { method: row.method, headers, ...(row.method === "POST" ? { body: "not multipart" } : {}) });
            const params = row.file.includes("[...path]") ? { projectId: p.id, path: sub.split("/").slice(1) } : { projectId: p.id };
            // A token's lastUsedAt is written on use (at most once a minute): not a change this checks.
            const snap = async () => (await snapshot(db.prisma)).replace(/"lastUsedAt":"[^"]*"/g, '"lastUsedAt":null');
            const before = await snap();
            const res = await routeModules.get(row.file)![row.method](req, { params: Promise.resolve(params) });
            const body = await res.arrayBuffer();
            if (want === "allowed") {
              if (row.method === "POST") expect(res.status, "an allowed STOW reaches content-type checking").toBe(415);
              else expect(res.status, Buffer.from(body).toString().slice(0, 300)).toBe(200);
            } else {
              expect(res.status).toBe(want);
              const msg = (JSON.parse(Buffer.from(body).toString()) as { error: string }).error;
              expect(msg.length).toBeGreaterThan(10);
              if (want === 401) expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
            }
            expect(await snap(), "a DICOMweb read or a refused STOW changes nothing").toEqual(before);
          });
        }
      }
    });
  }
});
