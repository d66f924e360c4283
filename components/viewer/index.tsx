"use client";
// The viewer as pages use it: loaded on demand in the browser only (next/dynamic, ssr:false), so
// cornerstone3D and its codecs are in the viewer's own chunks, never in another page's bundle.
import dynamic from "next/dynamic";
import { Center, Loader } from "@mantine/core";
import type { ViewerProps } from "./Viewer";
import { seriesMetadata, type SeriesKey } from "./series-metadata";

export type { ViewerApi, ViewerProps, ViewportStatus, SeriesRef } from "./Viewer";

const loadViewer = () => import("./Viewer");

/**
 * Starts loading the viewer's code now (the same chunks ViewerLazy loads), and the metadata of the
 * series it will show: a page calls it as soon as it knows them, so neither waits for the other.
 */
export function preloadViewer(series: SeriesKey[] = []): void {
  performance.mark("atrium:viewer-preload");
  loadViewer().catch(() => undefined);
  for (const s of series) seriesMetadata(s).catch(() => undefined);
}

export const ViewerLazy = dynamic<ViewerProps>(loadViewer, {
  ssr: false,
  loading: () => (
    <Center h="100%" mih={200} data-testid="viewer-loading">
      <Loader size="sm" />
    </Center>
  ),
});
