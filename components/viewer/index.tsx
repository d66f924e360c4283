"use client";
// The viewer as pages use it: loaded on demand in the browser only (next/dynamic, ssr:false), so
// cornerstone3D and its codecs are in the viewer's own chunks, never in another page's bundle.
import dynamic from "next/dynamic";
import { Center, Loader } from "@mantine/core";
import type { ViewerProps } from "./Viewer";

export type { ViewerApi, ViewerProps, ViewportStatus, SeriesRef } from "./Viewer";

export const ViewerLazy = dynamic<ViewerProps>(() => import("./Viewer"), {
  ssr: false,
  loading: () => (
    <Center h="100%" mih={200} data-testid="viewer-loading">
      <Loader size="sm" />
    </Center>
  ),
});
