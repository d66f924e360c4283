// Fetches frames off the page's main thread (series-metadata fetchSeriesFrames): reading 100 MB of
// responses is main-thread work for a page's fetch() (a trace of a 200-slice CT: ~1.3 s of it), a
// worker's is its own. Each frame goes back as its bytes (transferred, not copied) with the
// transfer syntax of the answer, or as a failure the viewer's loader then retries and reports.
// The protocol is FrameFetchRequest / FrameFetchResult in series-metadata.ts.
import { fetchFrames } from "./fetch-frame";
import type { FrameFetchRequest, FrameFetchResult } from "./series-metadata";

const series = new Map<string, AbortController>();

self.onmessage = (e: MessageEvent<FrameFetchRequest>) => {
  const msg = e.data;
  if (msg.kind === "cancel") {
    series.get(msg.series)?.abort();
    series.delete(msg.series);
    return;
  }
  const abort = new AbortController();
  series.set(msg.series, abort);
  void fetchFrames(msg.urls, msg.accept, msg.lanes, abort.signal, (url, frame) => {
    const result: FrameFetchResult = frame ? { url, ok: true, ...frame } : { url, ok: false };
    (self as unknown as Worker).postMessage(result, frame ? [frame.pixelData.buffer] : []);
  }).then(() => {
    if (series.get(msg.series) === abort) series.delete(msg.series);
  });
};
