"use client";
// The viewer before cornerstone3D draws: the layout's grid (the cells Viewer.tsx uses) with each
// acquired viewport's first image as the archive renders it (…/series/{uid}/rendered?image=first,
// the series' first image in the viewer's display order, with the template's window). It is an
// <img> in the page's HTML, so the browser fetches it while the viewer's code still loads; Viewer
// keeps it under each viewport until cornerstone3D has drawn there. No cornerstone3D here.
import type { CSSProperties } from "react";
import { Box, Stack } from "@mantine/core";
import type { ViewerLayout, ViewportSpec } from "@/lib/viewer/layout";
import { presetWindow } from "@/lib/viewer/viewer";
import type { SeriesKey } from "./series-metadata";

/** The height of the viewer's tool bar (one row of xs controls), kept free by the shell. */
export const TOOLBAR_HEIGHT = 30;

/** The archive's rendering of a series' first image in display order, in the viewport's window (relative URL: the page's origin). */
export function firstImageUrl(ref: SeriesKey, spec: Pick<ViewportSpec, "window">): string {
  const w = presetWindow(spec.window);
  const query = `image=first${w ? `&window=${w.center},${w.width}` : ""}`;
  return `/dicomweb/projects/${encodeURIComponent(ref.projectId)}/studies/${ref.studyInstanceUid}/series/${ref.seriesInstanceUid}/rendered?${query}`;
}

/**
 * The first image, fitted and centred as a stack viewport shows it. `elementtiming` lets the
 * browser report when it was painted (bench/viewer-load.ts reads it).
 */
export function FirstImage({ src }: { src: string }) {
  return (
    // eslint-disable-next-line @next/next/no-img-element -- a DICOM rendering, not a static asset for next/image
    <img
      src={src}
      alt=""
      data-testid="first-image"
      fetchPriority="high"
      {...{ elementtiming: "atrium-first-image" }}
      style={{ position: "absolute", inset: 0, width: "100%", height: "100%", objectFit: "contain", pointerEvents: "none" }}
    />
  );
}

export function gridStyle(layout: ViewerLayout): CSSProperties {
  return { flex: 1, minHeight: 200, display: "grid", gap: 4, gridTemplateRows: `repeat(${layout.rows}, minmax(0, 1fr))`, gridTemplateColumns: `repeat(${layout.columns}, minmax(0, 1fr))` };
}

export interface Cell {
  row: number;
  column: number;
  rowSpan: number;
  columnSpan: number;
}

export function cellStyle(c: Cell): CSSProperties {
  return { position: "relative", background: "#000", overflow: "hidden", borderRadius: 2, gridRow: `${c.row + 1} / span ${c.rowSpan}`, gridColumn: `${c.column + 1} / span ${c.columnSpan}` };
}

/** Each viewport's cell: its own, or the next free one row-major. */
export function placeCells(layout: ViewerLayout): Cell[] {
  const taken = new Set<string>();
  const out: Cell[] = [];
  for (const v of layout.viewports) if (v.cell) for (let r = 0; r < v.cell.rowSpan; r++) for (let c = 0; c < v.cell.columnSpan; c++) taken.add(`${v.cell.row + r},${v.cell.column + c}`);
  let cursor = 0;
  for (const v of layout.viewports) {
    if (v.cell) {
      out.push(v.cell);
      continue;
    }
    while (taken.has(`${Math.floor(cursor / layout.columns)},${cursor % layout.columns}`)) cursor++;
    const cell = { row: Math.floor(cursor / layout.columns), column: cursor % layout.columns, rowSpan: 1, columnSpan: 1 };
    taken.add(`${cell.row},${cell.column}`);
    out.push(cell);
  }
  return out;
}

/** The viewer's place while its code loads: the grid with the first images. */
export function ViewerShell(props: { layout: ViewerLayout; scans: Record<string, SeriesKey | null | undefined>; height?: CSSProperties["height"]; children?: React.ReactNode }) {
  const cells = placeCells(props.layout);
  return (
    <Stack gap={6} h={props.height ?? "100%"} data-testid="viewer-loading">
      <Box h={TOOLBAR_HEIGHT}>{props.children}</Box>
      <Box style={gridStyle(props.layout)}>
        {props.layout.viewports.map((spec, i) => {
          const ref = props.scans[spec.scan];
          return (
            <Box key={spec.id} style={{ ...cellStyle(cells[i]!), outline: "1px solid #333" }}>
              {ref && spec.orientation === "acquired" && <FirstImage src={firstImageUrl(ref, spec)} />}
            </Box>
          );
        })}
      </Box>
    </Stack>
  );
}
