import { describe, expect, it } from "vitest";
import { chunks, cutPage, selectionSchema, selectionSize, shownOf } from "@/lib/portal/paging";
import { bulkQuarantineInput } from "@/lib/intake/settings";
import { z } from "zod";

describe("portal paging", () => {
  it("cuts a page fetched with one row more and names the next cursor", () => {
    const rows = [{ id: "a" }, { id: "b" }, { id: "c" }];
    expect(cutPage(rows, 2)).toEqual({ items: [{ id: "a" }, { id: "b" }], nextCursor: "b" });
    expect(cutPage(rows, 3)).toEqual({ items: rows, nextCursor: null });
  });
  it("says how many of how many", () => {
    expect(shownOf(100, 1500, ["instance", "instances"])).toBe("100 of 1,500 instances");
    expect(shownOf(3, 3, ["study", "studies"])).toBe("All 3 studies");
  });
  it("chunks and sizes selections", () => {
    expect(chunks(Array.from({ length: 450 }, (_, i) => i), 200).map((c) => c.length)).toEqual([200, 200, 50]);
    expect(selectionSize({ kind: "matching", except: ["x", "y"] }, 1500)).toBe(1498);
  });
  it("validates selections and bulk inputs", () => {
    const s = selectionSchema(z.object({}));
    expect(s.safeParse({ kind: "ids", ids: [] }).success).toBe(false);
    expect(s.safeParse({ kind: "matching", filter: {}, asOf: new Date().toISOString() }).success).toBe(true);
    const r = bulkQuarantineInput.safeParse({ projectId: "P1", action: "route", selection: { kind: "ids", ids: ["a"] } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain("Choose the project");
  });
});
