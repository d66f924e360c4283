// Fetches a viewer's series off the page's main thread (series-metadata fetchSeriesFrames): reading
// 100 MB of responses is main-thread work for a page's fetch() (a trace of a 200-slice CT: ~1.3 s
// of it), a worker's is its own; so is decoding the native grayscale frames (fetch-frame, lib/viewer
// native-frame), which cornerstone3D's loader would otherwise send through its own decoding worker
// from the main thread. The page's HTML may start it before any of the page's code has loaded
// (earlyViewerScript): it then fetches the series' metadata itself and its frames in display order.
// Frames go back transferred, not copied, with the transfer syntax of the answer, or as failures
// the viewer's loader then retries and reports. The protocol is in series-frames.ts.
import { fetchSeriesFrameData, frameBuffer, type FramePace, type FrameToFetch } from "./fetch-frame";
import { METADATA_ACCEPT, orderSeries, type FrameFetchRequest, type FrameFetchResult } from "./series-frames";

/** The series being fetched: their abort, and once their frames are under way, how to change their pace. */
const series = new Map<string, { abort: AbortController; faster?: (pace: FramePace) => void }>();
let paceNow: FramePace | null = null;
const post = (result: FrameFetchResult, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(result, transfer);

function fetchSeriesFrames(key: string, seriesUrl: string, frames: FrameToFetch[], accept: string, pace: FramePace, abort: AbortController): Promise<void> {
  const run = fetchSeriesFrameData(seriesUrl, frames, accept, paceNow ?? pace, abort.signal, (url, frame) => post({ kind: "frame", series: key, url, frame }, frame ? [frameBuffer(frame) as ArrayBuffer] : []));
  const entry = series.get(key);
  if (entry?.abort === abort) entry.faster = run.faster;
  return run.done.then(() => {
    if (abort.signal.aborted) return;
    post({ kind: "frames-done", series: key });
  });
}

async function fetchSeries(msg: Extract<FrameFetchRequest, { kind: "series" }>, abort: AbortController): Promise<void> {
  let text: string;
  try {
    const r = await fetch(`${msg.seriesPath}/metadata`, { headers: { accept: METADATA_ACCEPT }, credentials: "same-origin", signal: abort.signal });
    text = await r.text();
    if (!r.ok) {
      let detail = "";
      try {
        detail = (JSON.parse(text) as { error?: string }).error ?? "";
      } catch {
        // not JSON
      }
      post({ kind: "metadata", series: msg.series, ok: false, status: r.status, detail });
      return;
    }
  } catch {
    if (!abort.signal.aborted) post({ kind: "metadata", series: msg.series, ok: false, status: 0, detail: "" });
    return;
  }
  if (abort.signal.aborted) return;
  let frames: FrameToFetch[] = [];
  const seriesUrl = `${self.location.origin}${msg.seriesPath}`;
  if (msg.frames) {
    try {
      frames = orderSeries(seriesUrl, JSON.parse(text)).frames;
    } catch {
      frames = []; // not DICOM JSON: the page says what is wrong with it
    }
  }
  post({ kind: "metadata", series: msg.series, ok: true, text, framesComing: frames.length > 0 });
  if (frames.length) await fetchSeriesFrames(msg.series, seriesUrl, frames, msg.accept, msg.pace, abort);
}

self.onmessage = (e: MessageEvent<FrameFetchRequest>) => {
  const msg = e.data;
  if (msg.kind === "pace") {
    paceNow = msg.pace;
    for (const s of series.values()) s.faster?.(msg.pace);
    return;
  }
  if (msg.kind === "cancel") {
    series.get(msg.series)?.abort.abort();
    series.delete(msg.series);
    return;
  }
  const abort = new AbortController();
  series.get(msg.series)?.abort.abort();
  series.set(msg.series, { abort });
  const done = msg.kind === "series" ? fetchSeries(msg, abort) : fetchSeriesFrames(msg.series, msg.seriesUrl, msg.frames, msg.accept, msg.pace, abort);
  void done.finally(() => {
    if (series.get(msg.series)?.abort === abort) series.delete(msg.series);
  });
};
