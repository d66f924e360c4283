"use client";
// The viewer as pages use it: loaded on demand in the browser only, so cornerstone3D and its codecs
// are in the viewer's own chunks, never in another page's bundle or on the server. Until its code
// has loaded (and in the page's HTML) the viewer's place shows ViewerShell: the layout with each
// series' first image as the archive renders it.
import { useEffect, useState, type ComponentType } from "react";
import { Text } from "@mantine/core";
import type { ViewerProps } from "./Viewer";
import type { ViewerLayout } from "@/lib/viewer/layout";
import { fetchSeriesFrames, seriesMetadata, stackOnlySeries, type SeriesKey } from "./series-metadata";
import { ViewerShell } from "./ViewerShell";

export type { ViewerApi, ViewerProps, ViewportStatus, SeriesRef } from "./Viewer";

let loading: Promise<ComponentType<ViewerProps>> | null = null;
let loaded: ComponentType<ViewerProps> | null = null;
const loadViewer = () => {
  // The chunk's name is names.ts VIEWER_CHUNK_NAME: the build records its files for the viewer page's HTML.
  loading ??= import(/* webpackChunkName: "atrium-viewer" */ "./Viewer").then((m) => (loaded = m.default));
  // A failed load (a network error, a new deployment) is tried again next time.
  loading.catch(() => (loading = null));
  return loading;
};

/**
 * Starts loading the viewer's code now, the metadata of the series it will show, and the frames of
 * those it shows as stacks only (`layout`): a page calls it as soon as it knows them, so none waits
 * for the others.
 */
export function preloadViewer(series: SeriesKey[] = [], show?: { layout: ViewerLayout; scans: Record<string, SeriesKey | null | undefined> }): void {
  performance.mark("atrium:viewer-preload");
  loadViewer().catch(() => undefined);
  for (const s of series) seriesMetadata(s).catch(() => undefined);
  if (show) for (const s of stackOnlySeries(show.layout, show.scans)) fetchSeriesFrames(s);
}

export function ViewerLazy(props: ViewerProps) {
  // Always the shell on the first render, as in the server's HTML (hydration must match it).
  const [Viewer, setViewer] = useState<ComponentType<ViewerProps> | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  useEffect(() => {
    if (Viewer) return;
    if (loaded) {
      setViewer(() => loaded);
      return;
    }
    let live = true;
    loadViewer().then(
      (V) => live && setViewer(() => V),
      (e: Error) => live && setFailed(e.message),
    );
    return () => {
      live = false;
    };
  }, [Viewer]);
  if (Viewer) return <Viewer {...props} />;
  return (
    <ViewerShell layout={props.layout} scans={props.scans} tools={props.tools} readOnly={props.readOnly} hotkeys={props.hotkeys} labels={props.labels} height={props.height}>
      {failed && <Text size="sm" c="red" data-testid="viewer-error">The viewer&apos;s code could not be loaded ({failed}); reload the page.</Text>}
    </ViewerShell>
  );
}
