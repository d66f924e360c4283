// A series' WADO-RS metadata from Atrium's DICOMweb, fetched once per page and shared: pages start
// it as soon as they know the series (while the viewer's cornerstone3D chunk is still loading), the
// viewer reads the same promise; its display order; and its frames fetched ahead in that order.
// No cornerstone3D here, so pages can import it cheaply.
import { orderInstances } from "@/lib/viewer/viewer";
import { fetchFrames, type FetchedFrame } from "./fetch-frame";

export type { FetchedFrame } from "./fetch-frame";
export interface SeriesKey {
  projectId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
}

export type DicomJson = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }>;

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

/** A series' key in this page's maps (metadata, frames ahead, the early metadata request). */
export function seriesKeyOf(ref: SeriesKey): string {
  return `${ref.projectId}/${ref.studyInstanceUid}/${ref.seriesInstanceUid}`;
}

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

/**
 * The page's HTML can ask for a series' metadata before any of the page's code has loaded (an
 * inline script: earlyMetadataScript); the first reader takes that answer.
 */
const EARLY = "__atriumEarlyMetadata";
type EarlyWindow = { [EARLY]?: Record<string, Promise<Response> | undefined> };

export function earlyMetadataScript(refs: SeriesKey[]): string {
  const entries = refs.map((ref) => [seriesKeyOf(ref), `${seriesPath(ref)}/metadata`]);
  // JSON in a script element: "<" escaped so that no value can close it.
  const data = JSON.stringify(entries).replace(/</g, "\\u003c");
  return `(function(){var m=window.${EARLY}=window.${EARLY}||{};${data}.forEach(function(e){if(!m[e[0]])m[e[0]]=fetch(e[1],{headers:{accept:"application/dicom+json"},credentials:"same-origin"});});})();`;
}

function takeEarly(key: string): Promise<Response> | undefined {
  if (typeof window === "undefined") return undefined;
  const early = (window as unknown as EarlyWindow)[EARLY];
  const r = early?.[key];
  if (early && r) delete early[key];
  return r;
}

async function fetchMetadata(ref: SeriesKey): Promise<DicomJson[]> {
  performance.mark(`atrium:metadata-start:${ref.seriesInstanceUid}`);
  const early = takeEarly(seriesKeyOf(ref));
  const r = (early ? await early.catch(() => null) : null) ?? (await fetch(`${seriesBase(ref)}/metadata`, { headers: { accept: "application/dicom+json" }, credentials: "same-origin" }));
  if (!r.ok) {
    let detail = "";
    try {
      detail = ((await r.json()) as { error?: string }).error ?? "";
    } catch {
      // not JSON
    }
    if (r.status === 401) throw new Error("Your session has ended: sign in again to see the images.");
    if (r.status === 403) throw new Error(detail || "You may not read this series' images in this project; ask an owner.");
    if (r.status === 404) throw new Error("This series is not in the project's archive (it may have been removed).");
    throw new Error(`The archive could not give this series' metadata (HTTP ${r.status})${detail ? `: ${detail}` : ""}.`);
  }
  const json = (await r.json()) as DicomJson[];
  performance.mark(`atrium:metadata-end:${ref.seriesInstanceUid}`);
  return json;
}

// ---- display order and frame URLs

/** The Accept of a frame request: the stored bytes as one part (compressed ones keep their transfer syntax). */
export const SINGLE_FRAME_ACCEPT = "application/octet-stream; transfer-syntax=*";

const str = (j: DicomJson, tag: string): string | null => {
  const v = j[tag]?.Value?.[0];
  return v == null ? null : String(v);
};
const nums = (j: DicomJson, tag: string): number[] | null => {
  const v = j[tag]?.Value;
  return v ? v.map(Number) : null;
};

export interface OrderedInstance {
  json: DicomJson;
  /** The archive's own instance UID (what its frame URLs use), from the pixel data's BulkDataURI. */
  sopInstanceUid: string;
  instanceNumber: number | null;
  position: number[] | null;
  orientation: number[] | null;
  frames: number;
}

/** The series' instances with pixel data in the viewer's display order (lib/viewer orderInstances), and each frame's URL in that order. */
export function orderSeries(ref: SeriesKey, instances: DicomJson[]): { ordered: OrderedInstance[]; volumeCapable: boolean; frameUrls: string[] } {
  const withPixels = instances.filter((j) => j["7FE00010"] || j["7FE00008"] || j["7FE00009"]);
  const archivedUid = (j: DicomJson) => {
    const uri = j["7FE00010"]?.BulkDataURI ?? j["7FE00008"]?.BulkDataURI ?? j["7FE00009"]?.BulkDataURI;
    const m = uri ? /\/instances\/([0-9.]+)\/bulkdata/.exec(uri) : null;
    return m?.[1] ?? str(j, "00080018") ?? "";
  };
  const geometry = withPixels.map((j) => ({
    json: j,
    sopInstanceUid: archivedUid(j),
    instanceNumber: str(j, "00200013") != null ? Number(str(j, "00200013")) : null,
    position: nums(j, "00200032"),
    orientation: nums(j, "00200037"),
    frames: Math.max(1, Number(str(j, "00280008") ?? 1) || 1),
  }));
  const { ordered, volumeCapable } = orderInstances(geometry);
  const base = seriesBase(ref);
  const frameUrls = ordered.flatMap((g) => Array.from({ length: g.frames }, (_, f) => `${base}/instances/${g.sopInstanceUid}/frames/${f + 1}`));
  return { ordered, volumeCapable, frameUrls };
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

/** At most this many series' frames are held ahead (a page shows a few; an old one is dropped). */
const SERIES_AHEAD = 4;
const FRAMES_AT_ONCE = 6; // the browser's HTTP/1.1 connections per host
/** Series key → its frames' URLs once known, and the fetching's abort. */
const ahead = new Map<string, { abort: AbortController; urls: string[] }>();
/** Frame URL → the frame being fetched ahead (null when that failed). */
const byUrl = new Map<string, Promise<FetchedFrame | null>>();
/** Frame URL → the frame fetched ahead, until the loader takes it. */
const settled = new Map<string, FetchedFrame>();

/** What the page asks the frame fetcher (frame-fetcher.worker.ts). */
export type FrameFetchRequest = { kind: "fetch"; series: string; urls: string[]; accept: string; lanes: number } | { kind: "cancel"; series: string };
/** What it answers, once per frame. */
export type FrameFetchResult = { url: string; ok: true; pixelData: Uint8Array; transferSyntaxUid: string } | { url: string; ok: false };

let fetcher: Worker | null | undefined;
const pendingFrames = new Map<string, (f: FetchedFrame | null) => void>();

/** The frame fetcher worker, started once; null where workers cannot start (the page fetches itself then). */
function frameFetcher(): Worker | null {
  if (fetcher !== undefined) return fetcher;
  try {
    fetcher = new Worker(new URL("./frame-fetcher.worker.ts", import.meta.url));
    fetcher.onmessage = (e: MessageEvent<FrameFetchResult>) => {
      const r = e.data;
      const done = pendingFrames.get(r.url);
      pendingFrames.delete(r.url);
      done?.(r.ok ? { pixelData: r.pixelData, transferSyntaxUid: r.transferSyntaxUid } : null);
    };
    fetcher.onerror = () => {
      // The worker is gone: what it had not answered is left to the loader.
      for (const done of pendingFrames.values()) done(null);
      pendingFrames.clear();
      fetcher = null;
    };
  } catch {
    fetcher = null;
  }
  return fetcher;
}

/**
 * Fetches a series' frames in display order, 6 at a time, as soon as its metadata is there: the
 * page starts it while the viewer's code (cornerstone3D) still loads, and the viewer's image loader
 * takes each frame from here (cornerstone.ts) instead of asking the archive again. The fetching is
 * done by a worker (frame-fetcher.worker.ts), so that reading the responses does not take the page's
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
      s.urls = orderSeries(ref, instances).frameUrls;
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
        void fetchFrames(s.urls, SINGLE_FRAME_ACCEPT, FRAMES_AT_ONCE, s.abort.signal, (url, f) => resolvers.get(url)?.(f));
        return;
      }
      for (const [url, resolve] of resolvers) pendingFrames.set(url, resolve);
      worker.postMessage({ kind: "fetch", series: key, urls: s.urls, accept: SINGLE_FRAME_ACCEPT, lanes: FRAMES_AT_ONCE } satisfies FrameFetchRequest);
    })
    .catch(() => undefined);
}

/** The frame at `url` if it is being fetched ahead (resolves null when that failed), else undefined. */
export function frameAhead(url: string): Promise<FetchedFrame | null> | undefined {
  return byUrl.get(url);
}

/** Takes a frame fetched ahead, once it is there (once only: the loader hands its bytes to a decoder, which may take them over; nothing here holds them after). */
export function takeFrame(url: string): FetchedFrame | undefined {
  const f = settled.get(url);
  if (!f) return undefined;
  settled.delete(url);
  byUrl.delete(url);
  return f;
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
  ahead.delete(key);
}
