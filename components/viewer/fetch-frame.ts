// Frames' stored bytes from Atrium's DICOMweb, each answered as a single part with its transfer
// syntax (PS3.18 allows it for one frame), for the frame fetcher worker and the page alike. A
// native grayscale frame whose instance's spec is known comes back decoded (lib/viewer
// native-frame: the values cornerstone3D's loader would make of it); any other comes back as its
// bytes, for the loader to decode. A frame that cannot be had this way is null: the viewer's loader
// then asks itself and reports what is wrong.
import { decodeNativeFrame, type DecodedNativeFrame, type NativeFrameSpec } from "@/lib/viewer/native-frame";
import { multipartBoundary } from "@/lib/http/multipart-boundary";
import { readParts } from "./multipart-parts";

export type FetchedFrame = { transferSyntaxUid: string } & ({ pixelData: Uint8Array; decoded?: undefined } | { decoded: DecodedNativeFrame; pixelData?: undefined });

/** A frame to fetch, with what decoding it needs (null: its bytes go to the loader as they are). */
export interface FrameToFetch {
  url: string;
  spec: NativeFrameSpec | null;
}

export async function fetchFrame(frame: FrameToFetch, accept: string, signal: AbortSignal, priority: RequestPriority = "auto"): Promise<FetchedFrame | null> {
  try {
    const r = await fetch(frame.url, { headers: { accept }, credentials: "same-origin", signal, priority });
    const type = r.headers.get("content-type") ?? "";
    const syntax = transferSyntaxOf(type);
    if (!r.ok || !syntax || type.startsWith("multipart/")) {
      await r.body?.cancel();
      return null;
    }
    return asFetched(new Uint8Array(await r.arrayBuffer()), syntax, frame.spec);
  } catch {
    return null;
  }
}

/** The transfer-syntax parameter of a frame's (or a part's) Content-Type. */
const transferSyntaxOf = (contentType: string | null | undefined) => /transfer-syntax=([0-9.]+)/.exec(contentType ?? "")?.[1];

function asFetched(bytes: Uint8Array, transferSyntaxUid: string, spec: NativeFrameSpec | null): FetchedFrame {
  const decoded = spec ? decodeNativeFrame(bytes, transferSyntaxUid, spec) : null;
  return decoded ? { decoded, transferSyntaxUid } : { pixelData: bytes, transferSyntaxUid };
}

/** The Accept of a series' pixel data: every frame's stored bytes, one part each. */
export const SERIES_PIXELDATA_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';

/**
 * A series' frames in one request (Atrium's DICOMweb `…/series/{uid}/pixeldata`, in display order,
 * each part named by its frame's URL), telling `onFrame` of each of `frames` as it arrives. Returns
 * the URLs it delivered: fewer than all when the answer was refused or broke off (the caller fetches
 * the rest frame by frame). A part for a frame not asked for is ignored.
 */
export async function fetchSeriesPixelData(seriesUrl: string, frames: FrameToFetch[], priority: RequestPriority, signal: AbortSignal, onFrame: (url: string, frame: FetchedFrame) => void): Promise<Set<string>> {
  const delivered = new Set<string>();
  const specOf = new Map(frames.map((f) => [f.url, f.spec]));
  const origin = new URL(seriesUrl).origin;
  try {
    const r = await fetch(`${seriesUrl}/pixeldata`, { headers: { accept: SERIES_PIXELDATA_ACCEPT }, credentials: "same-origin", signal, priority });
    const boundary = multipartBoundary(r.headers.get("content-type"));
    if (!r.ok || !r.body || !boundary) {
      await r.body?.cancel();
      return delivered;
    }
    for await (const part of readParts(r.body, boundary)) {
      if (signal.aborted) break;
      const location = part.headers.get("content-location") ?? "";
      const url = location.startsWith("/") ? `${origin}${location}` : location;
      const syntax = transferSyntaxOf(part.headers.get("content-type"));
      if (!syntax || !specOf.has(url) || delivered.has(url)) continue;
      delivered.add(url);
      onFrame(url, asFetched(part.body, syntax, specOf.get(url)!));
    }
  } catch {
    // Refused, broken off or malformed: what was delivered stands, the rest is fetched frame by frame.
  }
  return delivered;
}

/** The buffer a fetched frame's values live in (what a worker transfers instead of copying). */
export function frameBuffer(frame: FetchedFrame): ArrayBufferLike {
  return frame.decoded ? frame.decoded.pixelData.buffer : frame.pixelData.buffer;
}

/** How a series' frames are fetched: this many at once, at this priority; both may change as they go. */
export interface FramePace {
  lanes: number;
  priority: RequestPriority;
}

/**
 * Fetches `frames` in their order, `pace.lanes` at a time, telling `onFrame` of each (until `signal`
 * aborts). `faster(pace)` raises the pace of what is left.
 */
export function fetchFrames(frames: FrameToFetch[], accept: string, pace: FramePace, signal: AbortSignal, onFrame: (url: string, frame: FetchedFrame | null) => void): { done: Promise<void>; faster: (pace: FramePace) => void } {
  let next = 0;
  let running = 0;
  let current = pace;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const lane = async () => {
    running++;
    while (next < frames.length && !signal.aborted) {
      const frame = frames[next++]!;
      const fetched = await fetchFrame(frame, accept, signal, current.priority);
      if (!signal.aborted) onFrame(frame.url, fetched);
    }
    if (--running === 0) finish();
  };
  const fill = () => {
    while (running < current.lanes && next < frames.length && !signal.aborted) void lane();
  };
  fill();
  if (running === 0) finish();
  return {
    done,
    faster: (p) => {
      current = p;
      fill();
    },
  };
}

/**
 * A series' frames: in one request (fetchSeriesPixelData), then whatever that did not deliver frame
 * by frame at `pace` (fetchFrames), telling `onFrame` of each. `faster(pace)` raises the pace.
 */
export function fetchSeriesFrameData(seriesUrl: string, frames: FrameToFetch[], accept: string, pace: FramePace, signal: AbortSignal, onFrame: (url: string, frame: FetchedFrame | null) => void): { done: Promise<void>; faster: (pace: FramePace) => void } {
  let current = pace;
  let rest: ReturnType<typeof fetchFrames> | null = null;
  const done = (async () => {
    const delivered = await fetchSeriesPixelData(seriesUrl, frames, pace.priority, signal, onFrame);
    if (signal.aborted || delivered.size === frames.length) return;
    rest = fetchFrames(frames.filter((f) => !delivered.has(f.url)), accept, current, signal, onFrame);
    await rest.done;
  })();
  return {
    done,
    faster: (p) => {
      current = p;
      rest?.faster(p);
    },
  };
}
