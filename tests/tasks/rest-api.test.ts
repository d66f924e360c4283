// The task API over HTTP (/api/v1), its route handlers called as Next.js calls them, with personal
// tokens (atu_…) on a real PostgreSQL: OpenAPI document, create a group by template name, take the
// next task (then 204), read it with its DICOMweb references, save a draft, a refused submit names
// the field, submit, skip, release; a stranger's token gets 404, a bad token 401.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { setDbHandle } from "@/server/db";
import { DEMO_QC_TEMPLATE } from "@/lib/tasks/demo";
import { saveTemplate } from "@/server/tasks/ops";
import { createUserToken } from "@/server/tasks/user-tokens";
import * as openapi from "@/app/api/v1/openapi.json/route";
import * as list from "@/app/api/v1/tasks/route";
import * as one from "@/app/api/v1/tasks/[id]/route";
import * as draft from "@/app/api/v1/tasks/[id]/draft/route";
import * as submitRoute from "@/app/api/v1/tasks/[id]/submit/route";
import * as releaseRoute from "@/app/api/v1/tasks/[id]/release/route";
import * as skipRoute from "@/app/api/v1/tasks/[id]/skip/route";
import * as next from "@/app/api/v1/projects/[projectId]/tasks/next/route";
import * as groups from "@/app/api/v1/projects/[projectId]/task-groups/route";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let ownerToken: string;
let readerToken: string;
let strangerToken: string;
const P = "RESTT";
const req = (path: string, token: string | null, method = "GET", body?: unknown) =>
  new Request(`http://localhost${path}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
const p = <T extends Record<string, string>>(x: T) => ({ params: Promise.resolve(x) });

beforeAll(async () => {
  db = await createTestDatabase();
  setDbHandle(Promise.resolve(db.handle));
  const owner = await db.prisma.user.create({ data: { email: "o@rest.test" } });
  const reader = await db.prisma.user.create({ data: { email: "r@rest.test" } });
  const stranger = await db.prisma.user.create({ data: { email: "s@rest.test" } });
  await db.prisma.project.create({ data: { id: P, idLower: P.toLowerCase(), name: "Rest", members: { create: [{ userId: owner.id, role: "owner" }, { userId: reader.id, role: "member" }] } } });
  const subj = await db.prisma.archiveSubject.create({ data: { projectId: P, label: "S" } });
  for (let i = 0; i < 2; i++) {
    const e = await db.prisma.archiveExperiment.create({ data: { projectId: P, subjectId: subj.id, label: `E${i}`, studyInstanceUid: `2.25.7${i}`, modalities: ["MR"] } });
    await db.prisma.archiveScan.create({ data: { experimentId: e.id, seriesInstanceUid: `2.25.7${i}.1`, modality: "MR", seriesDescription: "T1", instanceCount: 40, seriesNumber: 1 } });
  }
  await saveTemplate(db.prisma, P, owner.id, "qc", DEMO_QC_TEMPLATE);
  ownerToken = (await createUserToken(db.prisma, owner.id, "o")).token;
  readerToken = (await createUserToken(db.prisma, reader.id, "r")).token;
  strangerToken = (await createUserToken(db.prisma, stranger.id, "s")).token;
});
afterAll(async () => {
  setDbHandle(undefined);
  await db?.drop();
});

describe("task REST API", () => {
  it("serves its OpenAPI document with every path of the issue", async () => {
    const doc = (await (await openapi.GET()).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    for (const path of ["/api/v1/tasks", "/api/v1/tasks/{id}", "/api/v1/tasks/{id}/draft", "/api/v1/tasks/{id}/submit", "/api/v1/tasks/{id}/release", "/api/v1/tasks/{id}/skip", "/api/v1/projects/{projectId}/tasks/next", "/api/v1/projects/{projectId}/task-groups"]) expect(doc.paths[path], path).toBeTruthy();
  });

  it("a reader's whole flow with a personal token; strangers and bad tokens are refused", async () => {
    expect((await groups.POST(req(`/api/v1/projects/${P}/task-groups`, readerToken, "POST", { label: "G", template: "qc", query: { modality: "MR" } }), p({ projectId: P }))).status).toBe(403);
    const made = await groups.POST(req(`/api/v1/projects/${P}/task-groups`, ownerToken, "POST", { label: "G", template: "qc", query: { modality: "MR" } }), p({ projectId: P }));
    expect(made.status).toBe(201);
    expect(await made.json()).toMatchObject({ tasks: 2 });
    const bad = await list.GET(req("/api/v1/tasks?mine=1", "atu_nope"));
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toMatch(/^Bearer/);

    const n1 = await next.POST(req(`/api/v1/projects/${P}/tasks/next`, readerToken, "POST", {}), p({ projectId: P }));
    expect(n1.status).toBe(200);
    const { id } = (await n1.json()) as { id: string };
    expect((await one.GET(req(`/api/v1/tasks/${id}`, strangerToken), p({ id }))).status).toBe(404);
    const view = (await (await one.GET(req(`/api/v1/tasks/${id}`, readerToken), p({ id }))).json()) as { state: string; data: { scans: Record<string, { url: string }> }; template: { name: string } };
    expect(view.state).toBe("locked");
    expect(view.template.name).toBe("qc");
    expect(view.data.scans.main!.url).toMatch(new RegExp(`^/dicomweb/projects/${P}/studies/2\\.25\\.7\\d/series/2\\.25\\.7\\d\\.1$`));

    expect((await draft.PUT(req(`/api/v1/tasks/${id}/draft`, readerToken, "PUT", { answers: { usable: "no" } }), p({ id }))).status).toBe(200);
    const refused = await submitRoute.POST(req(`/api/v1/tasks/${id}/submit`, readerToken, "POST", { answers: { usable: "no" } }), p({ id }));
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { fieldErrors: { field: string }[] }).fieldErrors).toEqual([{ field: "reason", message: '"What is wrong?" is required' }]);
    const done = await submitRoute.POST(req(`/api/v1/tasks/${id}/submit`, readerToken, "POST", { answers: { usable: "no", reason: ["motion"] } }), p({ id }));
    expect(await done.json()).toMatchObject({ version: 1, state: "done" });
    const mine = (await (await list.GET(req("/api/v1/tasks?mine=1", readerToken))).json()) as { tasks: { id: string; state: string }[] };
    expect(mine.tasks).toEqual([expect.objectContaining({ id, state: "done" })]);

    const n2 = (await (await next.POST(req(`/api/v1/projects/${P}/tasks/next`, readerToken, "POST", {}), p({ projectId: P }))).json()) as { id: string };
    expect((await releaseRoute.POST(req(`/api/v1/tasks/${n2.id}/release`, readerToken, "POST"), p({ id: n2.id }))).status).toBe(200);
    expect((await skipRoute.POST(req(`/api/v1/tasks/${n2.id}/skip`, readerToken, "POST", {}), p({ id: n2.id }))).status).toBe(400);
    expect((await skipRoute.POST(req(`/api/v1/tasks/${n2.id}/skip`, readerToken, "POST", { reason: "wrong anatomy" }), p({ id: n2.id }))).status).toBe(200);
    expect((await next.POST(req(`/api/v1/projects/${P}/tasks/next`, readerToken, "POST", {}), p({ projectId: P }))).status).toBe(204);
  });
});
