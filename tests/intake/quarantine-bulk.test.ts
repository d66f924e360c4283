// Bulk actions on a project's quarantine through the API (real PostgreSQL and Redis): every row
// matching a filter is retried in chunks until none remain (rows the worker quarantines again
// meanwhile are not retried twice), ticked rows are routed to another owned project and deleted,
// each audited per instance; rows show study/series tags from the staged header.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, type People } from "../helpers/fixtures";
import { SAMPLES_DIR } from "@/lib/samples";
import { emptyQueuesAndDisconnect } from "../helpers/queues";
import { BULK_CHUNK } from "@/lib/portal/paging";

const dataDir = path.join(os.tmpdir(), `atrium-quarantine-bulk-${process.pid}`);
process.env.ATRIUM_DATA_DIR = dataDir;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
const CT = path.join(SAMPLES_DIR, "highdicom__ct_image.dcm");

async function project(id: string, ownerId: string) {
  await db.prisma.project.create({ data: { id, idLower: id.toLowerCase(), name: id, members: { create: [{ userId: ownerId, role: "owner" as const }] } } });
}

async function quarantine(projectId: string, count: number, reasonCode: string, withFile = false) {
  mkdirSync(path.join(dataDir, "staging", projectId), { recursive: true });
  const rows = Array.from({ length: count }, (_, i) => {
    const rel = path.join("staging", projectId, `${reasonCode}-${i}.dcm`);
    if (withFile) copyFileSync(CT, path.join(dataDir, rel));
    return {
      projectId, channel: "cstore" as const, batchId: "b", stagingPath: rel, sizeBytes: 1, sha256: "0".repeat(64),
      status: "quarantined" as const, reason: "A reason a person can read.", reasonCode, receivedAt: new Date(Date.now() - 60_000),
      updatedAt: new Date(Date.now() - 60_000),
    };
  });
  await db.prisma.receivedInstance.createMany({ data: rows });
}

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
  await project("BULK", people.users.owner.id);
  await project("OTHER", people.users.owner.id);
});
afterAll(async () => {
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  await emptyQueuesAndDisconnect(["deid"]);
});

const owner = () => callerFor(db.prisma, people.sessions.owner);

describe("bulk actions on the quarantine", () => {
  it("retries every row matching a filter in chunks, and not the rows quarantined again meanwhile", async () => {
    await quarantine("BULK", 450, "rule_mismatch");
    await quarantine("BULK", 5, "not_dicom");
    const list = await owner().intake.quarantine({ projectId: "BULK", reasonCode: "rule_mismatch", limit: 100 });
    expect(list.total).toBe(450);
    const selection = { kind: "matching" as const, filter: { reasonCode: "rule_mismatch" as const }, asOf: list.asOf, except: [list.items[0]!.id] };
    const first = await owner().intake.quarantineBulk({ projectId: "BULK", action: "retry", selection });
    expect(first).toEqual({ done: BULK_CHUNK, remaining: 449 - BULK_CHUNK });
    // The worker quarantines some of the retried rows again (same reason): they are not retried twice.
    const again = await db.prisma.receivedInstance.findMany({ where: { projectId: "BULK", status: "received" }, take: 20, select: { id: true } });
    await db.prisma.receivedInstance.updateMany({ where: { id: { in: again.map((r) => r.id) } }, data: { status: "quarantined", reasonCode: "rule_mismatch", updatedAt: new Date() } });
    let r = first;
    let calls = 1;
    while (r.remaining > 0) {
      r = await owner().intake.quarantineBulk({ projectId: "BULK", action: "retry", selection });
      calls++;
    }
    expect(calls).toBe(3);
    expect(await db.prisma.receivedInstance.count({ where: { projectId: "BULK", status: "quarantined", reasonCode: "rule_mismatch" } })).toBe(1 + 20);
    expect(await db.prisma.auditEvent.count({ where: { projectId: "BULK", action: "intake.retry" } })).toBe(449);
    // The other reason was not touched.
    expect(await db.prisma.receivedInstance.count({ where: { projectId: "BULK", status: "quarantined", reasonCode: "not_dicom" } })).toBe(5);
  });

  it("routes and deletes ticked rows, and shows study and series tags of the staged header", async () => {
    await quarantine("OTHER", 4, "no_route", true);
    const list = await owner().intake.quarantine({ projectId: "OTHER", limit: 100 });
    const [a, b, c, d] = list.items;
    expect(a).toMatchObject({ modality: "CT", study: expect.stringMatching(/^[0-9a-f]{6}$/), series: expect.stringMatching(/^[0-9a-f]{6}$/) });
    expect(new Set(list.items.map((i) => i.study)).size).toBe(1);
    expect(await owner().intake.quarantineBulk({ projectId: "OTHER", action: "route", targetProjectId: "BULK", selection: { kind: "ids", ids: [a!.id, b!.id] } })).toEqual({ done: 2, remaining: 0 });
    expect(await db.prisma.receivedInstance.count({ where: { id: { in: [a!.id, b!.id] }, projectId: "BULK", status: "received" } })).toBe(2);
    const staged = await db.prisma.receivedInstance.findUniqueOrThrow({ where: { id: c!.id } });
    expect(await owner().intake.quarantineBulk({ projectId: "OTHER", action: "delete", selection: { kind: "ids", ids: [c!.id] } })).toEqual({ done: 1, remaining: 0 });
    expect(existsSync(path.join(dataDir, staged.stagingPath))).toBe(false);
    expect(await db.prisma.receivedInstance.findMany({ where: { projectId: "OTHER" }, select: { id: true } })).toEqual([{ id: d!.id }]);
    expect(await db.prisma.auditEvent.count({ where: { action: "intake.delete", targetId: c!.id } })).toBe(1);
  });
});
