import { describe, expect, it } from "vitest";
import {
  bulkStep, emptySelection, isSelected, pageState, runBulk, selectedCount, selectionProblem, selectMatching, toggle, togglePage, toSelection,
} from "@/lib/portal/selection";
import { MAX_PICKED } from "@/lib/portal/paging";

describe("row selection of a paged table", () => {
  it("ticks rows across pages by id", () => {
    let s = emptySelection<{ reason?: string }>();
    s = togglePage(s, ["a", "b", "c"], true);
    s = toggle(s, "x");
    expect(selectedCount(s)).toBe(4);
    expect(pageState(s, ["a", "b", "c"])).toBe("all");
    s = toggle(s, "b");
    expect(pageState(s, ["a", "b", "c"])).toBe("some");
    expect(toSelection(s)).toEqual({ kind: "ids", ids: ["a", "c", "x"] });
    expect(pageState(togglePage(s, ["a", "b", "c"], false), ["a", "b", "c"])).toBe("none");
  });
  it("selects every matching row, minus the rows unticked", () => {
    const asOf = new Date("2026-12-05T07:00:00Z");
    let s = selectMatching({ reason: "no_route" }, asOf, 1500);
    expect(isSelected(s, "anything")).toBe(true);
    s = toggle(s, "a");
    s = togglePage(s, ["b", "c"], false);
    expect(selectedCount(s)).toBe(1497);
    expect(isSelected(s, "a")).toBe(false);
    expect(toSelection(s)).toEqual({ kind: "matching", filter: { reason: "no_route" }, asOf, except: ["a", "b", "c"] });
    // Unticking every row leaves nothing selected.
    let two = selectMatching({}, asOf, 2);
    two = toggle(toggle(two, "a"), "b");
    expect(two).toEqual(emptySelection());
    expect(selectMatching({}, asOf, 0)).toEqual(emptySelection());
  });
  it("says when too many rows were ticked one by one", () => {
    const ids = Array.from({ length: MAX_PICKED + 1 }, (_, i) => `r${i}`);
    expect(selectionProblem(togglePage(emptySelection(), ids, true))).toMatch(/Select all matching/);
    expect(selectionProblem(togglePage(emptySelection(), ids.slice(1), true))).toBeNull();
  });
});

describe("a bulk action repeated until nothing remains", () => {
  it("adds up what each call did and stops when nothing remains", async () => {
    const answers = [{ done: 200, remaining: 250 }, { done: 200, remaining: 50 }, { done: 50, remaining: 0 }];
    const seen: string[] = [];
    const end = await runBulk(async () => answers.shift()!, 450, (p) => seen.push(`${p.done}/${p.total} ${p.state}`), () => false);
    expect(end).toEqual({ done: 450, total: 450, state: "finished" });
    expect(seen).toEqual(["0/450 running", "200/450 running", "400/450 running", "450/450 finished"]);
  });
  it("stops between calls when cancelled, and when a call acts on nothing while rows remain", async () => {
    let calls = 0;
    const end = await runBulk(async () => ({ done: 200, remaining: 1000 - 200 * ++calls }), 1000, () => undefined, () => calls >= 2);
    expect(end).toMatchObject({ done: 400, total: 1000, state: "cancelled" });
    expect(bulkStep({ done: 10, total: 30, state: "running" }, { done: 0, remaining: 20 })).toMatchObject({ state: "stuck", error: expect.stringMatching(/20 selected rows could not be acted on/) });
  });
  it("reports a failed call with its message", async () => {
    const end = await runBulk(async () => { throw new Error("You can route instances only to projects you own"); }, 5, () => undefined, () => false);
    expect(end).toMatchObject({ state: "failed", error: "You can route instances only to projects you own", done: 0 });
  });
});

import { browseQuery, parseBrowseLocation } from "@/lib/portal/browse-url";
describe("the Browse tab's place in the URL", () => {
  it("round-trips subject, experiment, scan and a search", () => {
    const loc = { subject: "PSEUDO_0001", experiment: "exp1", scan: "scan9", search: { modality: "MR", from: "2024-01-01" } };
    const q = browseQuery(loc);
    expect(q).toBe("tab=browse&subject=PSEUDO_0001&experiment=exp1&scan=scan9&modality=MR&from=2024-01-01");
    expect(parseBrowseLocation(new URLSearchParams(q))).toEqual(loc);
  });
  it("ignores a scan without its experiment and an experiment without its subject", () => {
    expect(parseBrowseLocation(new URLSearchParams("tab=browse&experiment=e&scan=s"))).toEqual({});
    expect(browseQuery({ experiment: "e" })).toBe("tab=browse");
  });
});
