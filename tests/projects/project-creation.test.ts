// Who may create projects is a site setting (issue #17 §1), as XNAT offers: `all` signed-in users
// or site `admins` only. A project's owner decides where identifiable data goes, so on a site with
// administrators the default is `admins`; a site with none (a fresh install with the development
// sign-in) must stay usable, so there the default is `all`. Changes are audited as site events.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRPCError } from "@trpc/server";
import type { ZodError } from "zod";
import { readableZodMessage } from "@/server/trpc/init";
import { createTestDatabase } from "../helpers/pg";
import { ADMIN_EMAIL, callerFor, createPeople, type People } from "../helpers/fixtures";
import { decideProjectCreation, effectiveProjectCreation } from "@/lib/site/settings";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let people: People;

beforeAll(async () => {
  db = await createTestDatabase();
  people = await createPeople(db.prisma);
});
afterAll(async () => {
  await db?.drop();
});

const as = (who: keyof People["sessions"]) => callerFor(db.prisma, people.sessions[who]);

describe("who may create projects", () => {
  it("by default, on a site with administrators, only site admins create projects; others are told why and whom to ask", async () => {
    for (const who of ["outsider", "member", "owner"] as const) {
      const err = await as(who).project.create({ id: `BY_${who.toUpperCase()}`, name: "Mine" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TRPCError);
      expect((err as TRPCError).code).toBe("FORBIDDEN");
      expect((err as TRPCError).message).toMatch(/only site administrators create projects.*Ask a site administrator/);
    }
    expect(await db.prisma.project.count()).toBe(0);
    expect(await as("outsider").project.creation()).toMatchObject({ allowed: false, policy: "admins", isDefault: true });
    expect(await as("siteAdmin").project.creation()).toMatchObject({ allowed: true, policy: "admins" });
    expect(await as("siteAdmin").project.create({ id: "BY_ADMIN", name: "Admin's" })).toEqual({ id: "BY_ADMIN" });
  });

  it("a site admin opens project creation to everyone (audited as a site event), and closes it again", async () => {
    expect(await as("siteAdmin").admin.setProjectCreation({ policy: "all" })).toMatchObject({ policy: "all", isDefault: false });
    expect(await as("outsider").project.creation()).toMatchObject({ allowed: true, policy: "all" });
    expect(await as("outsider").project.create({ id: "BY_OUTSIDER", name: "Mine" })).toEqual({ id: "BY_OUTSIDER" });
    await as("siteAdmin").admin.setProjectCreation({ policy: "admins" });
    await expect(as("outsider").project.create({ id: "AGAIN", name: "Again" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const events = await db.prisma.auditEvent.findMany({ where: { projectId: null, action: "site.settings" }, orderBy: { id: "asc" } });
    expect(events.map((e) => (e.after as { projectCreation: string }).projectCreation)).toEqual(["all", "admins"]);
    expect(events.every((e) => e.actorId === people.users.siteAdmin.id)).toBe(true);
    expect((events[1]!.before as { projectCreation: string }).projectCreation).toBe("all");
  });

  it("only site admins read or change the setting; a bad value is refused with the choices", async () => {
    for (const who of ["outsider", "owner"] as const) {
      await expect(as(who).admin.setProjectCreation({ policy: "all" })).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(as(who).admin.projectCreation()).rejects.toMatchObject({ code: "FORBIDDEN" });
    }
    const bad = (await as("siteAdmin").admin.setProjectCreation({ policy: "everyone" as "all" }).catch((e: unknown) => e)) as TRPCError;
    expect(bad.code).toBe("BAD_REQUEST");
    expect(readableZodMessage(bad.cause as ZodError)).toMatch(/^policy: Choose "all" \(every signed-in user\) or "admins"/);
  });

  it("a site with no administrator (fresh install, development sign-in) lets everyone create projects until ATRIUM_ADMINS names someone", async () => {
    await db.prisma.siteSettings.update({ where: { id: "site" }, data: { projectCreation: null } });
    const previous = process.env.ATRIUM_ADMINS;
    process.env.ATRIUM_ADMINS = "";
    try {
      // The session decides siteAdmin from ATRIUM_ADMINS: with none set, nobody is an admin.
      const dev = callerFor(db.prisma, { ...people.sessions.outsider!, siteAdmin: false });
      expect(await dev.project.creation()).toMatchObject({ allowed: true, policy: "all", isDefault: true });
      expect(await dev.project.create({ id: "FRESH", name: "Fresh install" })).toEqual({ id: "FRESH" });
    } finally {
      process.env.ATRIUM_ADMINS = previous;
    }
    expect(previous).toBe(ADMIN_EMAIL);
    await expect(as("outsider").project.create({ id: "NOT_NOW", name: "x" })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("the rule itself, without storage", () => {
    expect(effectiveProjectCreation(null, true)).toEqual({ policy: "admins", isDefault: true });
    expect(effectiveProjectCreation(null, false)).toEqual({ policy: "all", isDefault: true });
    expect(effectiveProjectCreation("all", true)).toEqual({ policy: "all", isDefault: false });
    expect(decideProjectCreation("admins", { siteAdmin: true }, true)).toEqual({ allowed: true });
    const none = decideProjectCreation("admins", { siteAdmin: false }, false);
    expect(none).toMatchObject({ allowed: false, reason: expect.stringMatching(/set ATRIUM_ADMINS/) });
  });
});
