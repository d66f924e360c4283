// Frames' stored bytes from Atrium's DICOMweb, each answered as a single part with its transfer
// syntax (PS3.18 allows it for one frame), for the frame fetcher worker and the page alike. A
// frame that cannot be had this way is null: the viewer's loader then asks itself and reports what
// is wrong.
export interface FetchedFrame {
  pixelData: Uint8Array;
  transferSyntaxUid: string;
}

export async function fetchFrame(url: string, accept: string, signal: AbortSignal): Promise<FetchedFrame | null> {
  try {
    const r = await fetch(url, { headers: { accept }, credentials: "same-origin", signal });
    const type = r.headers.get("content-type") ?? "";
    const syntax = /transfer-syntax=([0-9.]+)/.exec(type)?.[1];
    if (!r.ok || !syntax || type.startsWith("multipart/")) {
      await r.body?.cancel();
      return null;
    }
    return { pixelData: new Uint8Array(await r.arrayBuffer()), transferSyntaxUid: syntax };
  } catch {
    return null;
  }
}

/** Fetches `urls` in their order, `lanes` at a time, telling `onFrame` of each (until `signal` aborts). */
export async function fetchFrames(urls: string[], accept: string, lanes: number, signal: AbortSignal, onFrame: (url: string, frame: FetchedFrame | null) => void): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < urls.length && !signal.aborted) {
      const url = urls[next++]!;
      const frame = await fetchFrame(url, accept, signal);
      if (!signal.aborted) onFrame(url, frame);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}
