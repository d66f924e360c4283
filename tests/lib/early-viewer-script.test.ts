// The viewer's early start from a page's HTML (components/viewer/series-metadata): which series a
// layout shows and which of them get their frames ahead (shownSeries), and the inline script itself,
// run in a bare JavaScript context with a recording Worker and document: nothing starts before the
// first image has been painted (or 400 ms), then the viewer's code is loaded and the frame fetcher
// is asked for each shown series once.
import vm from "node:vm";
import { describe, expect, it } from "vitest";
import { earlyViewerScript, shownSeries } from "@/components/viewer/series-metadata";
import { FIRST_IMAGE_TIMING, FRAME_FETCHER_NAME } from "@/components/viewer/names";

const ref = (series: string) => ({ projectId: "P1", studyInstanceUid: "1.2.3", seriesInstanceUid: series });

describe("shownSeries", () => {
  it("lists each series a layout shows once, with frames ahead only for those shown as stacks only", () => {
    const layout = {
      viewports: [
        { scan: "t1", orientation: "acquired" },
        { scan: "t1", orientation: "acquired" },
        { scan: "flair", orientation: "acquired" },
        { scan: "flair", orientation: "axial" },
        { scan: "missing", orientation: "acquired" },
      ],
    };
    const scans = { t1: ref("1.1"), flair: ref("1.2"), missing: null, unused: ref("1.9") };
    expect(shownSeries(layout, scans)).toEqual([
      { ref: ref("1.1"), frames: true },
      { ref: ref("1.2"), frames: false },
    ]);
    expect(shownSeries({ viewports: [] }, scans)).toEqual([]);
  });
});

describe("earlyViewerScript", () => {
  function runInPage(script: string) {
    const listeners: Record<string, ((e: { target: unknown }) => void)[]> = {};
    const appended: string[] = [];
    const posted: { name: string; message: unknown }[] = [];
    const timers: (() => void)[] = [];
    const fetched: string[] = [];
    class RecordingWorker {
      onmessage: ((e: { data: unknown }) => void) | null = null;
      constructor(
        readonly url: string,
        readonly options: { name: string },
      ) {}
      postMessage(message: unknown) {
        posted.push({ name: this.options.name, message });
      }
    }
    const page: Record<string, unknown> = {
      document: {
        addEventListener: (type: string, fn: (e: { target: unknown }) => void) => (listeners[type] ??= []).push(fn),
        createElement: () => ({}) as { src?: string },
        head: { appendChild: (el: { src: string }) => appended.push(el.src) },
      },
      Worker: RecordingWorker,
      requestAnimationFrame: (fn: () => void) => timers.push(fn),
      setTimeout: (fn: () => void) => timers.push(fn),
      fetch: (url: string) => {
        fetched.push(url);
        return Promise.resolve();
      },
    };
    page.window = page;
    vm.createContext(page);
    vm.runInContext(script, page);
    const runTimers = () => {
      while (timers.length) timers.shift()!();
    };
    const loaded = (target: unknown) => listeners.load?.forEach((fn) => fn({ target }));
    return { page, appended, posted, fetched, timers, runTimers, loaded };
  }

  const shown = [
    { ref: ref("1.1"), frames: true },
    { ref: ref("1.2"), frames: false },
  ];
  const assets = { frameFetcher: "/_next/static/chunks/frame-fetcher.js", viewerScripts: ["/_next/static/chunks/atrium-viewer.js"] };

  it("waits for the first image's paint, then loads the viewer's code and asks the frame fetcher for each series", () => {
    const p = runInPage(earlyViewerScript(shown, assets));
    // An image that is not the first image starts nothing; the first image's load does, a frame later.
    p.loaded({ getAttribute: () => null });
    expect(p.appended).toEqual([]);
    expect(p.posted).toEqual([]);
    const fallback = p.timers.length; // the 400 ms fallback timer
    expect(fallback).toBe(1);
    p.loaded({ getAttribute: (a: string) => (a === "elementtiming" ? FIRST_IMAGE_TIMING : null) });
    p.runTimers();
    expect(p.appended).toEqual(assets.viewerScripts);
    expect(p.posted.map((x) => x.name)).toEqual([FRAME_FETCHER_NAME, FRAME_FETCHER_NAME]);
    expect(p.posted.map((x) => x.message)).toMatchObject([
      { kind: "series", series: "P1/1.2.3/1.1", seriesPath: "/dicomweb/projects/P1/studies/1.2.3/series/1.1", frames: true, pace: { lanes: 2, priority: "low" } },
      { kind: "series", series: "P1/1.2.3/1.2", seriesPath: "/dicomweb/projects/P1/studies/1.2.3/series/1.2", frames: false },
    ]);
    // Started once: the page's code asking again changes nothing.
    (p.page.__atriumEarly as { start: () => void }).start();
    expect(p.posted).toHaveLength(2);
    expect(p.fetched).toEqual([]);
  });

  it("without a recorded frame fetcher (a dev server), fetches the metadata itself after 400 ms", () => {
    const p = runInPage(earlyViewerScript(shown, { frameFetcher: null, viewerScripts: [] }));
    p.runTimers();
    expect(p.posted).toEqual([]);
    expect(p.fetched).toEqual(["/dicomweb/projects/P1/studies/1.2.3/series/1.1/metadata", "/dicomweb/projects/P1/studies/1.2.3/series/1.2/metadata"]);
  });

  it("cannot be closed by a value in it", () => {
    const script = earlyViewerScript([{ ref: { projectId: "P</script><script>alert(1)//", studyInstanceUid: "1", seriesInstanceUid: "2" }, frames: true }], assets);
    expect(script).not.toContain("</script>");
    expect(() => runInPage(script)).not.toThrow();
  });
});
