// Frames' stored bytes from Atrium's DICOMweb, each answered as a single part with its transfer
// syntax (PS3.18 allows it for one frame), for the frame fetcher worker and the page alike. A
// native grayscale frame whose instance's spec is known comes back decoded (lib/viewer
// native-frame: the values cornerstone3D's loader would make of it); any other comes back as its
// bytes, for the loader to decode. A frame that cannot be had this way is null: the viewer's loader
// then asks itself and reports what is wrong.
import { decodeNativeFrame, type DecodedNativeFrame, type NativeFrameSpec } from "@/lib/viewer/native-frame";

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
    const syntax = /transfer-syntax=([0-9.]+)/.exec(type)?.[1];
    if (!r.ok || !syntax || type.startsWith("multipart/")) {
      await r.body?.cancel();
      return null;
    }
    const bytes = new Uint8Array(await r.arrayBuffer());
    const decoded = frame.spec ? decodeNativeFrame(bytes, syntax, frame.spec) : null;
    return decoded ? { decoded, transferSyntaxUid: syntax } : { pixelData: bytes, transferSyntaxUid: syntax };
  } catch {
    return null;
  }
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
