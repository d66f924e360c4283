// lib/db/coalesce.ts: the compute path's statements of one kind sent together when they come close
// (claims, reuse lookups, submissions): alone when nothing of the kind is under way, together when
// they arrive while one is; a conflict between transactions retries the items one by one, any
// other error fails them.
import { describe, expect, it } from "vitest";
import { Coalescer } from "@/lib/db/coalesce";

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("Coalescer", () => {
  it("sends an item alone when idle, and the items that came meanwhile together, in order", async () => {
    const batches: number[][] = [];
    const singles: number[] = [];
    const c = new Coalescer<number, number>(
      async (items) => {
        batches.push(items);
        await tick();
        return items.map((i) => i * 10);
      },
      async (i) => {
        singles.push(i);
        await tick();
        return i * 10;
      },
    );
    const first = c.add(1);
    const rest = [2, 3, 4].map((i) => c.add(i));
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
    expect(singles).toEqual([1]);
    expect(batches).toEqual([[2, 3, 4]]);
    // Idle again: alone.
    expect(await c.add(5)).toBe(50);
    expect(singles).toEqual([1, 5]);
  });

  it("a conflict (SQLSTATE 40…) retries each item alone; another error fails the batch's items", async () => {
    let fail: { code: string } | null = { code: "40P01" };
    const c = new Coalescer<number, number>(
      async (items) => {
        await tick();
        if (fail) throw Object.assign(new Error("batch failed"), fail);
        return items;
      },
      async (i) => {
        await tick();
        if (i === 3) throw new Error("three");
        return -i;
      },
    );
    const all = [1, 2, 3, 4].map((i) => c.add(i).catch((e: Error) => e.message));
    expect(await Promise.all(all)).toEqual([-1, -2, "three", -4]);
    fail = { code: "42601" };
    const again = [1, 2, 3].map((i) => c.add(i).catch((e: Error) => e.message));
    expect(await Promise.all(again)).toEqual([-1, "batch failed", "batch failed"]);
  });
});
