// server/db's direct SQL on PostgreSQL (the pg pool behind Prisma): named prepared statements stay
// right when a migration changes the table they return whole, and sqlTransaction commits, or rolls
// back everything when its function throws; its first statement (sent with the BEGIN) runs in the
// same transaction, with values written in it by sqlLiteral.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/pg";
import { sqlLiteral, sqlRows, sqlTransaction } from "@/server/db";

let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.handle.sql.exec(`CREATE TABLE "PreparedProbe" (id int PRIMARY KEY); INSERT INTO "PreparedProbe" VALUES (1)`);
});
afterAll(async () => db?.drop());

describe("direct SQL on the pg pool", () => {
  it("a named prepared statement that returns a whole row still answers after the table gains a column", async () => {
    const probe = () => sqlRows<Record<string, unknown>>(db.prisma, `SELECT * FROM "PreparedProbe"`, [], "test.probe");
    // Prepared on every connection of the pool (ten), then the table changes under them.
    expect(await Promise.all(Array.from({ length: 12 }, probe))).toEqual(Array.from({ length: 12 }, () => [{ id: 1 }]));
    await db.handle.sql.exec(`ALTER TABLE "PreparedProbe" ADD COLUMN note text DEFAULT 'added'`);
    expect(await Promise.all(Array.from({ length: 12 }, probe))).toEqual(Array.from({ length: 12 }, () => [{ id: 1, note: "added" }]));
  });

  it("sqlTransaction commits what its function did, and rolls all of it back when it throws", async () => {
    await sqlTransaction(db.prisma, async (q) => {
      await q(`INSERT INTO "PreparedProbe" (id) VALUES ($1)`, [2]);
      await q(`INSERT INTO "PreparedProbe" (id) VALUES ($1)`, [3], "test.insert");
    });
    await expect(
      sqlTransaction(db.prisma, async (q) => {
        await q(`INSERT INTO "PreparedProbe" (id) VALUES ($1)`, [4], "test.insert");
        await q(`INSERT INTO "PreparedProbe" (id) VALUES ($1)`, [2], "test.insert"); // duplicate key
      }),
    ).rejects.toThrow(/duplicate key/);
    const ids = await sqlRows<{ id: number }>(db.prisma, `SELECT id FROM "PreparedProbe" ORDER BY id`, []);
    expect(ids.map((r) => r.id)).toEqual([1, 2, 3]);
  });

  it("sqlTransaction's first statement runs with the BEGIN, in the same transaction; sqlLiteral quotes any text", async () => {
    for (const value of ["plain", "it's", "back\\slash and 'quote'", "é ü \n"]) {
      const seen = await sqlTransaction(
        db.prisma,
        async (q) => (await q<{ v: string }>(`SELECT current_setting('atrium.probe', true) AS v`, [])).map((r) => r.v),
        `SELECT set_config('atrium.probe', ${sqlLiteral(value)}, true)`,
      );
      expect(seen).toEqual([value]);
    }
    // Set for the transaction only (is_local): gone after its COMMIT.
    expect((await sqlRows<{ v: string | null }>(db.prisma, `SELECT NULLIF(current_setting('atrium.probe', true), '') AS v`, []))[0]!.v).toBeNull();
  });
});
