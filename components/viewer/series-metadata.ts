// A series' WADO-RS metadata from Atrium's DICOMweb, fetched once per page and shared, and its
// frames fetched ahead in display order (series-frames.ts), by a worker (frame-fetcher.worker.ts).
// The page's HTML starts that worker itself (earlyViewerScript), before any of the page's code
// has loaded; pages otherwise start it as soon as they know the series, while the viewer's
// cornerstone3D chunk is still loading. The viewer reads the same metadata and takes the frames.
// No cornerstone3D here, so pages (and the server, for the HTML) can import it cheaply.
import type { DecodedNativeFrame } from "@/lib/viewer/native-frame";
import { fetchSeriesFrameData, type FetchedFrame, type FramePace } from "./fetch-frame";
import { FULL_PACE, METADATA_ACCEPT, PACE_WHILE_CODE_LOADS, orderSeries, SINGLE_FRAME_ACCEPT, type DicomJson, type FrameFetchRequest, type FrameFetchResult } from "./series-frames";
import { FIRST_IMAGE_TIMING, FRAME_FETCHER_NAME } from "./names";

export type { FetchedFrame } from "./fetch-frame";
export { SINGLE_FRAME_ACCEPT, type DicomJson } from "./series-frames";
export interface SeriesKey {
  projectId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
}

/** The project's DICOMweb path (no origin: usable on the server too). */
const projectPath = (projectId: string) => `/dicomweb/projects/${encodeURIComponent(projectId)}`;

export function dicomwebRoot(projectId: string): string {
  return `${window.location.origin}${projectPath(projectId)}`;
}

export function seriesBase(ref: SeriesKey): string {
  return `${window.location.origin}${seriesPath(ref)}`;
}

/** The series' DICOMweb path (no origin: usable on the server too). */
export function seriesPath(ref: SeriesKey): string {
  return `${projectPath(ref.projectId)}/studies/${ref.studyInstanceUid}/series/${ref.seriesInstanceUid}`;
}

/** A series' key in this page's maps (metadata, frames ahead, the early start). */
export function seriesKeyOf(ref: SeriesKey): string {
  return `${ref.projectId}/${ref.studyInstanceUid}/${ref.seriesInstanceUid}`;
}

// ---- the early start, from the page's HTML

/**
 * What the HTML's inline script leaves for the page's code: the frame fetcher it started (with the
 * answers that came before the page's code took it over), the series it asked it for, and, without
 * a worker, the metadata responses it asked for itself. It starts once the first image the HTML
 * shows has been painted (so that image is not queued behind the series' data, nor its paint behind
 * the viewer's code), or after 400 ms, or when the page's code asks (`start`).
 */
const EARLY = "__atriumEarly";
interface EarlyStart {
  start: () => void;
  worker: Worker | null;
  queue: FrameFetchResult[];
  series: Record<string, { frames: boolean } | undefined>;
  metadata: Record<string, Promise<Response> | undefined>;
}
function earlyStart(): EarlyStart | undefined {
  const early = typeof window === "undefined" ? undefined : (window as unknown as Record<string, EarlyStart | undefined>)[EARLY];
  early?.start();
  return early;
}

/**
 * The inline script (for the HTML, with the request's CSP nonce) that asks for the shown series'
 * metadata, and the frames of those shown as stacks only, before the page's code has loaded: with
 * the build's frame fetcher worker (`assets.frameFetcher`, server/viewer/assets.ts) when there is
 * one, else the metadata with fetch(). It also loads the viewer's code (`assets.viewerScripts`: the
 * browser compiles it while the page's own code loads; webpack takes the chunks when the page asks).
 */
export function earlyViewerScript(shown: { ref: SeriesKey; frames: boolean }[], assets: { frameFetcher: string | null; viewerScripts: string[] }): string {
  const entries = shown.map(({ ref, frames }) => {
    const series = seriesKeyOf(ref);
    const request: FrameFetchRequest = { kind: "series", series, seriesPath: seriesPath(ref), frames, accept: SINGLE_FRAME_ACCEPT, pace: PACE_WHILE_CODE_LOADS };
    return { series, metadataUrl: `${seriesPath(ref)}/metadata`, request };
  });
  // JSON in a script element: "<" escaped so that no value can close it.
  const json = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c");
  return `(function(){var s=window.${EARLY};if(s)return;var u=${json(assets.frameFetcher)},v=${json(assets.viewerScripts)},started=false;
s=window.${EARLY}={worker:null,queue:[],series:{},metadata:{},start:function(){if(started)return;started=true;
v.forEach(function(src){var el=document.createElement("script");el.src=src;el.async=true;document.head.appendChild(el);});
if(u){try{s.worker=new Worker(u,{name:${json(FRAME_FETCHER_NAME)}});s.worker.onmessage=function(e){s.queue.push(e.data);};}catch(e){s.worker=null;}}
${json(entries)}.forEach(function(e){if(s.worker){s.worker.postMessage(e.request);s.series[e.series]={frames:e.request.frames};}
else s.metadata[e.series]=fetch(e.metadataUrl,{headers:{accept:${json(METADATA_ACCEPT)}},credentials:"same-origin"});});}};
var first=function(e){var t=e.target;if(t&&t.getAttribute&&t.getAttribute("elementtiming")===${json(FIRST_IMAGE_TIMING)})requestAnimationFrame(function(){setTimeout(s.start,0);});};
document.addEventListener("load",first,true);document.addEventListener("error",first,true);setTimeout(s.start,400);})();`;
}

// ---- metadata

const fetched = new Map<string, Promise<DicomJson[]>>();

/** The series' instances as DICOM JSON (one request per series and page; a failure is forgotten, so a retry asks again). */
export function seriesMetadata(ref: SeriesKey): Promise<DicomJson[]> {
  const key = seriesKeyOf(ref);
  let p = fetched.get(key);
  if (!p) {
    p = fetchMetadata(ref);
    p.catch(() => fetched.delete(key));
    fetched.set(key, p);
  }
  return p;
}

type MetadataAnswer = Extract<FrameFetchResult, { kind: "metadata" }>;
/** The frame fetcher's metadata answers, by series key (until the page reads them). */
const workerMetadata = new Map<string, { answer: Promise<MetadataAnswer>; resolve: (a: MetadataAnswer) => void }>();
function metadataAnswer(key: string) {
  let w = workerMetadata.get(key);
  if (!w) {
    let resolve!: (a: MetadataAnswer) => void;
    const answer = new Promise<MetadataAnswer>((r) => (resolve = r));
    w = { answer, resolve };
    workerMetadata.set(key, w);
  }
  return w;
}

function metadataError(status: number, detail: string): Error {
  if (status === 401) return new Error("Your session has ended: sign in again to see the images.");
  if (status === 403) return new Error(detail || "You may not read this series' images in this project; ask an owner.");
  if (status === 404) return new Error("This series is not in the project's archive (it may have been removed).");
  return new Error(`The archive could not give this series' metadata (HTTP ${status})${detail ? `: ${detail}` : ""}.`);
}

async function fetchMetadata(ref: SeriesKey): Promise<DicomJson[]> {
  performance.mark(`atrium:metadata-start:${ref.seriesInstanceUid}`);
  const key = seriesKeyOf(ref);
  const early = earlyStart();
  let json: DicomJson[] | null = null;
  if (early?.series[key] && frameFetcher()) {
    // Asked for by the HTML through the frame fetcher: its answer, once (a retry asks again).
    const a = await metadataAnswer(key).answer;
    workerMetadata.delete(key);
    delete early.series[key];
    if (a.ok) json = JSON.parse(a.text) as DicomJson[];
    else if (a.status) throw metadataError(a.status, a.detail);
  }
  if (!json) {
    const asked = early?.metadata[key];
    if (asked) delete early.metadata[key];
    const r = (asked ? await asked.catch(() => null) : null) ?? (await fetch(`${seriesBase(ref)}/metadata`, { headers: { accept: METADATA_ACCEPT }, credentials: "same-origin" }));
    if (!r.ok) {
      let detail = "";
      try {
        detail = ((await r.json()) as { error?: string }).error ?? "";
      } catch {
        // not JSON
      }
      throw metadataError(r.status, detail);
    }
    json = (await r.json()) as DicomJson[];
  }
  performance.mark(`atrium:metadata-end:${ref.seriesInstanceUid}`);
  return json;
}

// ---- frames fetched ahead of the viewer

/**
 * The series a layout shows only as stacks ("acquired"): their frames are worth fetching ahead. A
 * series also reformatted (MPR) is loaded into a volume by cornerstone3D's own loader.
 */
export function stackOnlySeries(layout: { viewports: { scan: string; orientation: string }[] }, scans: Record<string, SeriesKey | null | undefined>): SeriesKey[] {
  const out: SeriesKey[] = [];
  for (const [scan, ref] of Object.entries(scans)) {
    const shown = layout.viewports.filter((v) => v.scan === scan);
    if (ref && shown.length && shown.every((v) => v.orientation === "acquired")) out.push(ref);
  }
  return out;
}

/** The series a layout shows, once each, and whether their frames are fetched ahead (shown as stacks only): earlyViewerScript's list. */
export function shownSeries(layout: { viewports: { scan: string; orientation: string }[] }, scans: Record<string, SeriesKey | null | undefined>): { ref: SeriesKey; frames: boolean }[] {
  const stacks = new Set(stackOnlySeries(layout, scans).map(seriesKeyOf));
  const out = new Map<string, { ref: SeriesKey; frames: boolean }>();
  for (const v of layout.viewports) {
    const ref = scans[v.scan];
    if (ref && !out.has(seriesKeyOf(ref))) out.set(seriesKeyOf(ref), { ref, frames: stacks.has(seriesKeyOf(ref)) });
  }
  return [...out.values()];
}

/** At most this many series' frames are held ahead (a page shows a few; an old one is dropped). */
const SERIES_AHEAD = 4;
/** Series key → its frames' URLs once known, and the fetching's abort. */
const ahead = new Map<string, { abort: AbortController; urls: string[] }>();
/** Frame URL → the frame being fetched ahead (null when that failed). */
const byUrl = new Map<string, Promise<FetchedFrame | null>>();
/** Frame URL → the frame fetched ahead, until the loader takes it. */
const settled = new Map<string, FetchedFrame>();
/**
 * Series whose frames the fetcher fetches because the HTML asked it to (known once their metadata
 * came), until the page asks for them: the frames sent so far, and whether that was all.
 */
const earlyFrames = new Map<string, { arrived: Map<string, FetchedFrame | null>; done: boolean }>();

let fetcher: Worker | null | undefined;
let viewerCodeLoaded = false;
const pace = (): FramePace => (viewerCodeLoaded ? FULL_PACE : PACE_WHILE_CODE_LOADS);
/** The page's own frame fetching (where no worker could start), to change its pace. */
const pageFetches = new Set<(pace: FramePace) => void>();

/**
 * The viewer's code has loaded (cornerstone.ts): frames are fetched at full pace from now on (until
 * then, slower and behind the page's own requests, so that they do not hold that code back).
 */
export function fetchFramesAtFullPace(): void {
  viewerCodeLoaded = true;
  for (const faster of pageFetches) faster(FULL_PACE);
  if (fetcher || (fetcher === undefined && earlyStart()?.worker)) frameFetcher()?.postMessage({ kind: "pace", pace: FULL_PACE } satisfies FrameFetchRequest);
}
/** Frame URL → its promise's resolve, and its series. */
const pendingFrames = new Map<string, { series: string; resolve: (f: FetchedFrame | null) => void }>();

function onFetcherAnswer(r: FrameFetchResult): void {
  if (r.kind === "metadata") {
    if (r.ok && r.framesComing) earlyFrames.set(r.series, { arrived: new Map(), done: false });
    metadataAnswer(r.series).resolve(r);
  } else if (r.kind === "frame") {
    const pending = pendingFrames.get(r.url);
    if (pending) {
      pendingFrames.delete(r.url);
      pending.resolve(r.frame);
    } else earlyFrames.get(r.series)?.arrived.set(r.url, r.frame);
  } else {
    // The fetcher is done with a series: what it did not send (none, unless the two orders differ) is the loader's.
    const early = earlyFrames.get(r.series);
    if (early) early.done = true;
    for (const [url, p] of pendingFrames) {
      if (p.series !== r.series) continue;
      pendingFrames.delete(url);
      p.resolve(null);
    }
  }
}

/**
 * The frame fetcher worker: the one the HTML started (its answers so far taken in order), else one
 * started now; null where workers cannot start (the page fetches itself then).
 */
function frameFetcher(): Worker | null {
  if (fetcher !== undefined) return fetcher;
  const early = earlyStart();
  try {
    // The name is the worker's chunk name in the build (next.config.ts records its URL by it).
    fetcher = early?.worker ?? new Worker(new URL("./frame-fetcher.worker.ts", import.meta.url), { name: "atrium-frame-fetcher" });
    fetcher.onmessage = (e: MessageEvent<FrameFetchResult>) => onFetcherAnswer(e.data);
    fetcher.onerror = () => {
      // The worker is gone: what it had not answered is left to the loader, and metadata to fetch().
      for (const p of pendingFrames.values()) p.resolve(null);
      pendingFrames.clear();
      for (const early of earlyFrames.values()) early.done = true;
      for (const [series, w] of workerMetadata) w.resolve({ kind: "metadata", series, ok: false, status: 0, detail: "" });
      fetcher = null;
    };
    if (early?.queue.length) for (const r of early.queue.splice(0)) onFetcherAnswer(r);
  } catch {
    fetcher = null;
  }
  return fetcher;
}

/**
 * Fetches a series' frames in display order, 6 at a time, as soon as its metadata is there (or
 * takes those the HTML's early start is fetching): the viewer's image loader takes each frame from
 * here (cornerstone.ts) instead of asking the archive again. The fetching is done by a worker
 * (frame-fetcher.worker.ts), so that reading and decoding the responses does not take the page's
 * main thread. A frame that cannot be fetched here is left to the loader, which asks for it and
 * says what went wrong.
 */
export function fetchSeriesFrames(ref: SeriesKey): void {
  const key = seriesKeyOf(ref);
  if (ahead.has(key)) return;
  const s = { abort: new AbortController(), urls: [] as string[] };
  ahead.set(key, s);
  while (ahead.size > SERIES_AHEAD) releaseSeriesFrames(ahead.keys().next().value!);
  void seriesMetadata(ref)
    .then((instances) => {
      if (s.abort.signal.aborted) return;
      const { frames } = orderSeries(seriesBase(ref), instances);
      s.urls = frames.map((f) => f.url);
      // Each frame's promise exists from now on, so the loader waits for it rather than asking again.
      const resolvers = new Map<string, (f: FetchedFrame | null) => void>();
      for (const url of s.urls) {
        const frame = new Promise<FetchedFrame | null>((resolve) => resolvers.set(url, resolve));
        void frame.then((f) => {
          if (f && byUrl.get(url) === frame) settled.set(url, f);
        });
        byUrl.set(url, frame);
      }
      const worker = frameFetcher();
      // Released: what is not fetched yet is left to the loader (nothing waits for it forever).
      s.abort.signal.addEventListener("abort", () => {
        worker?.postMessage({ kind: "cancel", series: key } satisfies FrameFetchRequest);
        for (const url of s.urls) pendingFrames.delete(url);
        for (const resolve of resolvers.values()) resolve(null);
      });
      if (!worker) {
        const run = fetchSeriesFrameData(seriesBase(ref), frames, SINGLE_FRAME_ACCEPT, pace(), s.abort.signal, (url, f) => resolvers.get(url)?.(f));
        pageFetches.add(run.faster);
        void run.done.then(() => pageFetches.delete(run.faster));
        return;
      }
      const early = earlyFrames.get(key);
      earlyFrames.delete(key);
      for (const [url, resolve] of resolvers) {
        if (early?.arrived.has(url)) resolve(early.arrived.get(url)!);
        else if (early?.done) resolve(null);
        else pendingFrames.set(url, { series: key, resolve });
      }
      if (!early) worker.postMessage({ kind: "fetch", series: key, seriesUrl: seriesBase(ref), frames, accept: SINGLE_FRAME_ACCEPT, pace: pace() } satisfies FrameFetchRequest);
    })
    .catch(() => undefined);
}

/** The frame at `url` if it is being fetched ahead (resolves null when that failed), else undefined. */
export function frameAhead(url: string): Promise<FetchedFrame | null> | undefined {
  return byUrl.get(url);
}

/**
 * Takes a frame fetched ahead as its stored bytes, once it is there (the loader's compressed-frame
 * registry asks): once only, as a decoder may take the bytes over; nothing here holds them after.
 */
export function takeFrameBytes(url: string): { pixelData: Uint8Array; transferSyntaxUid: string } | undefined {
  const f = settled.get(url);
  return f?.pixelData ? take(url, { pixelData: f.pixelData, transferSyntaxUid: f.transferSyntaxUid }) : undefined;
}

/** Takes a frame fetched ahead and decoded where it was fetched (fetch-frame), once it is there; once only. */
export function takeDecodedFrame(url: string): { decoded: DecodedNativeFrame; transferSyntaxUid: string } | undefined {
  const f = settled.get(url);
  return f?.decoded ? take(url, { decoded: f.decoded, transferSyntaxUid: f.transferSyntaxUid }) : undefined;
}

function take<T>(url: string, frame: T): T {
  settled.delete(url);
  byUrl.delete(url);
  return frame;
}

/** Drops what was fetched ahead for a series (and stops fetching it): its viewer is gone. */
export function releaseSeriesFrames(refOrKey: SeriesKey | string): void {
  const key = typeof refOrKey === "string" ? refOrKey : seriesKeyOf(refOrKey);
  const s = ahead.get(key);
  if (!s) return;
  s.abort.abort();
  for (const url of s.urls) {
    byUrl.delete(url);
    settled.delete(url);
  }
  earlyFrames.delete(key);
  ahead.delete(key);
}
