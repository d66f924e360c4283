// No error a caller sees carries a database message: lib/errors maps real Prisma errors (from a
// real PostgreSQL), the tRPC layer applies it to every procedure (HTTP included), and the HTTP
// routes' helper does the same. The "every procedure on a broken database" check is in
// tests/access/matrix.test.ts, beside the procedures' inputs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import superjson from "superjson";
import { publicDatabaseError, looksLikeDatabaseMessage, internalErrorLog } from "@/lib/errors";
import { router, publicProcedure } from "@/server/trpc/init";
import { errorResponse } from "@/server/http/errors";
import { createTestDatabase } from "../helpers/pg";
import { callerFor, createPeople, createProjectFixture, type People } from "../helpers/fixtures";
import { TRPCError } from "@trpc/server";
import type { PrismaClient } from "@/server/db/generated/client";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;
beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
});
afterAll(async () => db?.drop());

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}

describe("lib/errors on real database errors", () => {
  it("P2002 (unique) → CONFLICT naming the record and field, not the value", async () => {
    const e = await caught(db.prisma.user.create({ data: { email: people.users.owner.email, name: "dup" } }));
    expect(looksLikeDatabaseMessage((e as Error).message)).toBe(true);
    const p = publicDatabaseError(e);
    expect(p).toEqual({ code: "CONFLICT", message: "A user with this email already exists. Choose another, or reload to see the current state." });
    expect(p!.message).not.toContain(people.users.owner.email);
  });

  it("P2025 (not found) → NOT_FOUND", async () => {
    const e = await caught(db.prisma.user.update({ where: { id: "no-such-user" }, data: { name: "x" } }));
    const p = publicDatabaseError(e);
    expect(p?.code).toBe("NOT_FOUND");
    expect(p?.message).toMatch(/^The user was not found: it may have been removed meanwhile/);
  });

  it("any other database error → INTERNAL with a reference; the log record has codes, not the message", async () => {
    const fk = await caught(db.prisma.projectMember.create({ data: { projectId: "NO_SUCH_PROJECT", userId: people.users.owner.id, role: "member" } }));
    const raw = await caught(db.prisma.$queryRawUnsafe("SELECT * FROM no_such_table"));
    for (const e of [fk, raw]) {
      const p = publicDatabaseError(e);
      expect(p?.code).toBe("INTERNAL_SERVER_ERROR");
      expect(p?.message).toMatch(new RegExp(`^Something went wrong on the server \\(reference ${p!.ref}\\)`));
      expect(looksLikeDatabaseMessage(p!.message)).toBe(false);
      const logged = internalErrorLog(e, p!.ref!);
      expect(JSON.stringify(logged)).not.toMatch(/no_such_table|NO_SUCH_PROJECT/);
      expect(logged.ref).toBe(p!.ref);
    }
    expect(internalErrorLog(raw, "R").pgCode ?? internalErrorLog(raw, "R").prismaCode).toBeTruthy();
  });

  it("an error that is not the database's is left to its code", () => {
    expect(publicDatabaseError(new Error("The profile is not valid."))).toBeNull();
    expect(publicDatabaseError(new TRPCError({ code: "BAD_REQUEST", message: "x" }))).toBeNull();
  });
});

/** Calls a procedure the way the portal does: over HTTP, through tRPC's fetch adapter. */
async function overHttp(r: ReturnType<typeof router>, prisma: PrismaClient, path: string, input: unknown, type: "query" | "mutation") {
  const body = superjson.serialize(input);
  const url = `http://atrium.test/api/trpc/${path}${type === "query" ? `?input=${encodeURIComponent(JSON.stringify(body))}` : ""}`;
  const req = new Request(url, type === "query" ? { method: "GET" } : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const res = await fetchRequestHandler({ endpoint: "/api/trpc", req, router: r, createContext: () => ({ prisma, user: people.sessions.owner }) });
  return { status: res.status, text: await res.text() };
}

describe("the tRPC layer maps database errors for every procedure", () => {
  const testRouter = router({
    duplicate: publicProcedure.mutation(({ ctx }) => ctx.prisma.user.create({ data: { email: people.users.owner.email } })),
    gone: publicProcedure.mutation(({ ctx }) => ctx.prisma.user.delete({ where: { id: "no-such-user" } })),
    raw: publicProcedure.query(({ ctx }) => ctx.prisma.$queryRawUnsafe("SELECT * FROM no_such_table")),
    wrapped: publicProcedure.query(async ({ ctx }) => {
      try {
        return await ctx.prisma.$queryRawUnsafe("SELECT * FROM no_such_table");
      } catch (e) {
        // Code that quotes a database message in its own error is caught too.
        throw new TRPCError({ code: "BAD_REQUEST", message: `Could not read: ${(e as Error).message}` });
      }
    }),
    domain: publicProcedure.query(() => {
      throw new TRPCError({ code: "PRECONDITION_FAILED", message: "Choose a profile first." });
    }),
  });

  it("over HTTP: 409 / 404 / 500 with readable messages and no database text", async () => {
    const dup = await overHttp(testRouter, db.prisma, "duplicate", undefined, "mutation");
    expect(dup.status).toBe(409);
    expect(dup.text).toContain("A user with this email already exists.");
    const gone = await overHttp(testRouter, db.prisma, "gone", undefined, "mutation");
    expect(gone.status).toBe(404);
    for (const path of ["raw", "wrapped"]) {
      const r = await overHttp(testRouter, db.prisma, path, undefined, "query");
      expect(r.status).toBe(500);
      expect(r.text).toMatch(/Something went wrong on the server \(reference [0-9A-F]{8}\)/);
      expect(r.text).toMatch(/"ref":"[0-9A-F]{8}"/);
      expect(looksLikeDatabaseMessage(r.text), r.text).toBe(false);
      expect(r.text).not.toContain("no_such_table");
      expect(r.text).not.toContain('"stack"');
    }
    for (const r of [dup, gone]) expect(looksLikeDatabaseMessage(r.text), r.text).toBe(false);
    const domain = await overHttp(testRouter, db.prisma, "domain", undefined, "query");
    expect(domain.status).toBe(412);
    expect(domain.text).toContain("Choose a profile first.");
  });

  it("server-side callers (createCaller) get the same mapped errors", async () => {
    const caller = testRouter.createCaller({ prisma: db.prisma, user: null });
    const e = await caught(caller.duplicate());
    expect(e).toBeInstanceOf(TRPCError);
    expect((e as TRPCError).code).toBe("CONFLICT");
  });
});

describe("HTTP routes: errorResponse", () => {
  it("maps database errors and keeps the routes' own messages", async () => {
    const dup = errorResponse(await caught(db.prisma.user.create({ data: { email: people.users.owner.email } })), "test");
    expect(dup.status).toBe(409);
    expect(await dup.json()).toEqual({ error: "A user with this email already exists. Choose another, or reload to see the current state." });
    const raw = errorResponse(await caught(db.prisma.$queryRawUnsafe("SELECT * FROM no_such_table")), "test", 409);
    expect(raw.status).toBe(500);
    expect(JSON.stringify(await raw.json())).not.toContain("no_such_table");
    expect((await errorResponse(new Error("No such owner: sign in first."), "test", 409).json())).toEqual({ error: "No such owner: sign in first." });
    const unexpected = errorResponse(new Error("ENOENT: /var/lib/atrium/x"), "test");
    expect(unexpected.status).toBe(500);
    expect(JSON.stringify(await unexpected.json())).not.toContain("/var/lib");
    expect(errorResponse(new TRPCError({ code: "NOT_FOUND", message: "No such instance." }), "test").status).toBe(404);
  });
});

describe("AE titles", () => {
  it("an AE title another project uses: CONFLICT that names the problem (and the project when the caller may see it)", async () => {
    const a = await createProjectFixture(db.prisma, people, "AE_A", "private");
    const b = await createProjectFixture(db.prisma, people, "AE_B", "private");
    const owner = callerFor(db.prisma, people.sessions.owner);
    await owner.intake.addAeRoute({ projectId: a.projectId, aeTitle: "BRAIN_MRI" });
    const e = await caught(owner.intake.addAeRoute({ projectId: b.projectId, aeTitle: "brain_mri" }));
    expect((e as TRPCError).code).toBe("CONFLICT");
    expect((e as TRPCError).message).toMatch(/BRAIN_MRI already routes to project AE_A/);
  });
});

describe("AE title validation", () => {
  it("a called AE title is one word: PS3.5's rules plus no embedded space; calling AE titles follow PS3.5 as it is", async () => {
    const { calledAeTitleSchema, aeTitleSchema } = await import("@/lib/intake/ae");
    expect(calledAeTitleSchema.parse(" brain_mri ")).toBe("BRAIN_MRI");
    const spaced = calledAeTitleSchema.safeParse("brain mri");
    expect(spaced.success).toBe(false);
    expect(spaced.error!.issues[0]!.message).toMatch(/may not contain spaces.*Use _ instead, e.g. BRAIN_MRI/);
    expect(aeTitleSchema.parse("STATION 1")).toBe("STATION 1");
    for (const bad of ["A".repeat(17), "BACK\\SLASH", "LINE\nFEED", "   "]) expect(calledAeTitleSchema.safeParse(bad).success).toBe(false);
    const owner = callerFor(db.prisma, people.sessions.owner);
    const f = await createProjectFixture(db.prisma, people, "AE_SPACE", "private");
    const e = await caught(owner.intake.addAeRoute({ projectId: f.projectId, aeTitle: "brain mri" }));
    expect((e as TRPCError).code).toBe("BAD_REQUEST");
    expect(await db.prisma.aeRoute.count({ where: { projectId: f.projectId, aeTitle: "BRAIN MRI" } })).toBe(0);
  });
});

describe("de-identification profile", () => {
  it("the two longitudinal date options cannot be saved together (one zod schema: the tRPC input and the form)", async () => {
    const { deidProfileSchema } = await import("@/lib/intake/settings");
    const both = deidProfileSchema.safeParse("basic+retainLongitudinalFullDates+retainLongitudinalModifiedDates");
    expect(both.success).toBe(false);
    expect(both.error!.issues[0]!.message).toMatch(/^Choose one of the two longitudinal options, not both/);
    expect(deidProfileSchema.safeParse("basic+retainLongitudinalModifiedDates").success).toBe(true);
    const f = await createProjectFixture(db.prisma, people, "LONGI", "private");
    const before = await db.prisma.projectIntake.findUnique({ where: { projectId: f.projectId } });
    const e = await caught(callerFor(db.prisma, people.sessions.owner).intake.updateSettings({ projectId: f.projectId, deidProfile: "basic+retainLongitudinalFullDates+retainLongitudinalModifiedDates" }));
    expect((e as TRPCError).code).toBe("BAD_REQUEST");
    expect((e as TRPCError).message).toContain("Choose one of the two longitudinal options, not both");
    expect(await db.prisma.projectIntake.findUnique({ where: { projectId: f.projectId } })).toEqual(before);
  });
});

describe("the first routing rule", () => {
  it("is refused with an explanation until the owner acknowledges that only matching instances will be accepted", async () => {
    const f = await createProjectFixture(db.prisma, people, "FIRSTRULE", "private");
    // The fixture's rule is disabled: the project accepts everything.
    expect(await db.prisma.routingRule.count({ where: { projectId: f.projectId, enabled: true } })).toBe(0);
    const owner = callerFor(db.prisma, people.sessions.owner);
    const e = await caught(owner.rules.create({ projectId: f.projectId, expression: 'Modality == "MR"' }));
    expect((e as TRPCError).code).toBe("PRECONDITION_FAILED");
    expect((e as TRPCError).message).toMatch(/first enabled routing rule.*only instances that match an enabled rule are accepted.*quarantine/);
    const enable = await caught(owner.rules.update({ projectId: f.projectId, ruleId: f.ruleId, enabled: true }));
    expect((enable as TRPCError).code).toBe("PRECONDITION_FAILED");
    expect(await db.prisma.routingRule.count({ where: { projectId: f.projectId } })).toBe(1);
    // A disabled rule changes nothing and needs no acknowledgement; the acknowledged one is created.
    await owner.rules.create({ projectId: f.projectId, expression: 'Modality == "CT"', enabled: false });
    await owner.rules.create({ projectId: f.projectId, expression: 'Modality == "MR"', acceptOnlyMatching: true });
    // Once one rule is enabled, more rules need no acknowledgement.
    await owner.rules.update({ projectId: f.projectId, ruleId: f.ruleId, enabled: true });
    await owner.rules.create({ projectId: f.projectId, expression: 'Modality == "US"' });
    expect(await db.prisma.routingRule.count({ where: { projectId: f.projectId, enabled: true } })).toBe(3);
  });
});
