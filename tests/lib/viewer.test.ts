// lib/viewer/viewer: presets, hotkeys, series order, viewport text, annotation JSON and labelmap runs.
import { describe, expect, it } from "vitest";
import { decodeRuns, encodeRuns, orderInstances, presetWindow, resolveHotkeys, ViewerAnnotations, viewportText, windowToRange } from "@/lib/viewer/viewer";

describe("viewer rules", () => {
  it("maps presets to windows and VOI ranges", () => {
    expect(presetWindow("auto")).toBeNull();
    expect(presetWindow("lung")).toEqual({ center: -600, width: 1500 });
    expect(presetWindow({ center: 10, width: 20 })).toEqual({ center: 10, width: 20 });
    expect(windowToRange({ center: 40, width: 80 })).toEqual({ lower: 0, upper: 80 });
  });

  it("gives hotkeys only to offered tools and refuses a key used twice", () => {
    const keys = resolveHotkeys(["length"]);
    expect(keys.get("l")).toBe("length");
    expect(keys.has("a")).toBe(false);
    expect(() => resolveHotkeys(["length", "angle"], { angle: "L" })).toThrow(/"L" is given to both "length" and "angle"/);
  });

  it("orders slices along the normal and says when they form a volume", () => {
    const o = [1, 0, 0, 0, 1, 0];
    const items = [3, 1, 2].map((z) => ({ sopInstanceUid: `1.${z}`, instanceNumber: 10 - z, position: [0, 0, z], orientation: o, frames: 1 }));
    const r = orderInstances(items);
    expect(r.ordered.map((i) => i.sopInstanceUid)).toEqual(["1.1", "1.2", "1.3"]);
    expect(r.volumeCapable).toBe(true);
    const noGeom = orderInstances([{ sopInstanceUid: "1.2", instanceNumber: 2, frames: 1 }, { sopInstanceUid: "1.1", instanceNumber: 1, frames: 1 }]);
    expect(noGeom.ordered.map((i) => i.sopInstanceUid)).toEqual(["1.1", "1.2"]);
    expect(noGeom.volumeCapable).toBe(false);
  });

  it("writes viewport text from labels and technical values only", () => {
    const t = viewportText({ subjectLabel: "SUBJ_1", experimentLabel: "SUBJ_1_E1", seriesDescription: "T1", seriesNumber: 3, modality: "MR", orientation: "axial", imageIndex: 4, imageCount: 20, slicePosition: 12.34, window: { center: 40, width: 400 } });
    expect(t.topLeft).toEqual(["SUBJ_1", "SUBJ_1_E1"]);
    expect(t.topRight).toEqual(["#3 MR T1", "axial"]);
    expect(t.bottomLeft).toEqual(["Im 5/20", "Pos 12.3 mm"]);
    expect(t.bottomRight).toEqual(["W 400 L 40.0"]);
  });

  it("round-trips labelmap runs and refuses runs beyond the image", () => {
    const px = new Uint8Array([0, 1, 1, 0, 2, 2, 2, 0]);
    const runs = encodeRuns(px);
    expect(runs).toEqual([[1, 2, 1], [4, 3, 2]]);
    expect([...decodeRuns(runs, 8) as Uint8Array]).toEqual([...px]);
    expect(() => decodeRuns([[6, 5, 1]], 8)).toThrow(/beyond the image/);
  });

  it("validates annotation JSON", () => {
    const ok = ViewerAnnotations.parse({ version: 1, measurements: [{ uid: "a", tool: "length", ref: { scan: "t1", sopInstanceUid: "1.2.3", frame: 1 }, points: [[0, 0, 0], [1, 1, 1]] }] });
    expect(ok.labelmaps).toEqual([]);
    expect(() => ViewerAnnotations.parse({ version: 1, measurements: [{ uid: "a", tool: "brush", ref: { scan: "t1" }, points: [[0, 0, 0]] }] })).toThrow();
  });
});
