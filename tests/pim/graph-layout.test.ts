import { describe, expect, it } from "vitest";
import { layoutGraph, nodeOfPort } from "@/lib/runs/graph-layout";

describe("run graph layout", () => {
  it("maps fastr port paths to their node, macro endpoints included", () => {
    const ids = ["root/numbers", "root/add", "root/step1/macro", "root/step1/macro/inner"];
    expect(nodeOfPort(ids, "root/numbers/output")).toBe("root/numbers");
    expect(nodeOfPort(ids, "root/step1/macro/left/input")).toBe("root/step1/macro");
    expect(nodeOfPort(ids, "root/step1/macro/inner/x")).toBe("root/step1/macro/inner");
    expect(nodeOfPort(ids, "elsewhere/x")).toBeNull();
  });

  it("places a source → node → sink chain left to right with edges between them", async () => {
    const l = await layoutGraph(
      [
        { id: "root/numbers", label: "numbers" },
        { id: "root/add", label: "add" },
        { id: "root/out", label: "out" },
      ],
      [
        { from: "root/numbers/output", to: "root/add/left" },
        { from: "root/add/result", to: "root/out/input" },
        { from: "root/add/result", to: "root/out/input" },
      ],
    );
    const x = Object.fromEntries(l.nodes.map((n) => [n.id, n.x]));
    expect(x["root/numbers"]!).toBeLessThan(x["root/add"]!);
    expect(x["root/add"]!).toBeLessThan(x["root/out"]!);
    expect(l.edges).toHaveLength(2);
    for (const e of l.edges) expect(e.points.length).toBeGreaterThanOrEqual(2);
    expect(l.width).toBeGreaterThan(300);
  });
});
