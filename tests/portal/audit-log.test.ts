// The project audit log (#21 §7): filtered by action, actor and date range, paged by cursor, with
// counts for the filter's choices; and the CSV export's format.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, type People } from "../helpers/fixtures";
import { auditCsv, csvField } from "@/lib/audit";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
});
afterAll(async () => db?.drop());

describe("audit.list", () => {
  it("filters by action, actor and dates, pages by cursor, and counts the project's actions", async () => {
    const f = await createProjectFixture(db.prisma, people, "AUDITED", "private");
    const other = await createProjectFixture(db.prisma, people, "OTHER", "private");
    await db.prisma.auditEvent.deleteMany({ where: { projectId: { in: [f.projectId, other.projectId] } } });
    const day = (d: string) => new Date(`${d}T12:00:00Z`);
    const rows = [
      ...Array.from({ length: 7 }, (_, i) => ({ projectId: f.projectId, actorId: people.users.owner.id, action: "intake.settings", createdAt: day(`2026-03-0${i + 1}`), after: { deidScript: "X".repeat(400) } })),
      ...Array.from({ length: 3 }, (_, i) => ({ projectId: f.projectId, actorId: people.users.member.id, action: "member.role", createdAt: day(`2026-04-0${i + 1}`) })),
      { projectId: f.projectId, actorId: null, action: "archive.sent", createdAt: day("2026-05-01") },
      { projectId: other.projectId, actorId: people.users.owner.id, action: "intake.settings", createdAt: day("2026-03-02") },
    ];
    for (const r of rows) await db.prisma.auditEvent.create({ data: r });
    const owner = callerFor(db.prisma, people.sessions.owner);

    const all = await owner.audit.list({ projectId: f.projectId, limit: 4 });
    expect(all.total).toBe(11);
    expect(all.actions).toEqual([
      { action: "archive.sent", count: 1 },
      { action: "intake.settings", count: 7 },
      { action: "member.role", count: 3 },
    ]);
    // Cursor paging: newest first, no event twice, none missing.
    const seen = [...all.events];
    let cursor = all.nextCursor;
    while (cursor) {
      const page = await owner.audit.list({ projectId: f.projectId, limit: 4, cursor });
      seen.push(...page.events);
      cursor = page.nextCursor;
    }
    expect(seen).toHaveLength(11);
    expect(new Set(seen.map((e) => e.id)).size).toBe(11);
    expect(seen.map((e) => new Date(e.at).getTime())).toEqual([...seen.map((e) => new Date(e.at).getTime())].sort((a, b) => b - a));
    // Long values arrive whole (the page wraps and expands them).
    expect((seen.find((e) => e.action === "intake.settings")!.after as { deidScript: string }).deidScript).toHaveLength(400);

    expect((await owner.audit.list({ projectId: f.projectId, action: "member.role" })).total).toBe(3);
    expect((await owner.audit.list({ projectId: f.projectId, actor: "member" })).events.every((e) => e.actorEmail === people.users.member.email)).toBe(true);
    expect((await owner.audit.list({ projectId: f.projectId, actor: "system" })).events.map((e) => e.action)).toEqual(["archive.sent"]);
    const march = await owner.audit.list({ projectId: f.projectId, from: new Date("2026-03-03T00:00:00Z"), to: new Date("2026-03-05T00:00:00Z") });
    expect(march.total).toBe(2);
    await expect(owner.audit.list({ projectId: f.projectId, from: new Date("2026-03-05"), to: new Date("2026-03-01") })).rejects.toThrow(/start date must be before the end date/);
  });
});

describe("CSV export", () => {
  it("quotes per RFC 4180, keeps JSON values whole and defuses spreadsheet formulas", () => {
    expect(csvField('say "hi", then\nleave')).toBe('"say ""hi"", then\nleave"');
    expect(csvField("=HYPERLINK(\"x\")")).toBe("\"'=HYPERLINK(\"\"x\"\")\"");
    expect(csvField("-1")).toBe("'-1");
    expect(csvField(null)).toBe("");
    const csv = auditCsv([
      { id: "7", at: new Date("2026-03-01T12:00:00Z"), projectId: "P", action: "intake.settings", actor: "Olga", actorEmail: "o@x", targetType: "project", targetId: "P", before: { a: 1 }, after: { script: "a,b" } },
      { id: "6", at: "2026-03-01T11:00:00.000Z", action: "archive.sent", actor: "system", actorEmail: null, targetType: null, targetId: null, before: null, after: null },
    ]);
    expect(csv.split("\r\n")).toEqual([
      "id,time (UTC),project,actor,actor e-mail,action,target type,target,before,after",
      '7,2026-03-01T12:00:00.000Z,P,Olga,o@x,intake.settings,project,P,"{""a"":1}","{""script"":""a,b""}"',
      "6,2026-03-01T11:00:00.000Z,,system,,archive.sent,,,,",
      "",
    ]);
  });
});
