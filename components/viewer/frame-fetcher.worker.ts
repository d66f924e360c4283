// Fetches frames off the page's main thread (series-metadata fetchSeriesFrames): reading 100 MB of
// responses is main-thread work for a page's fetch() (a trace of a 200-slice CT: ~1.3 s of it), a
// worker's is its own. Each frame goes back as its bytes (transferred, not copied) with the
// transfer syntax of the answer, or as a failure the viewer's loader then retries and reports.
// The protocol is FrameFetchRequest / FrameFetchResult in series-metadata.ts.
import { fetchFrame } from "./fetch-frame";
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
  let next = 0;
  const lane = async () => {
    while (next < msg.urls.length && !abort.signal.aborted) {
      const url = msg.urls[next++]!;
      const frame = await fetchFrame(url, msg.accept, abort.signal);
      if (abort.signal.aborted) return;
      const result: FrameFetchResult = frame ? { url, ok: true, ...frame } : { url, ok: false };
      if (frame) (self as unknown as Worker).postMessage(result, [frame.pixelData.buffer]);
      else (self as unknown as Worker).postMessage(result);
    }
  };
  void Promise.all(Array.from({ length: msg.lanes }, lane)).then(() => {
    if (series.get(msg.series) === abort) series.delete(msg.series);
  });
};
