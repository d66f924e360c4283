"use client";
// The viewer before cornerstone3D draws: the layout's grid (the cells Viewer.tsx uses) with each
// acquired viewport's first image as the archive renders it (…/series/{uid}/rendered?image=first,
// the series' first image in the viewer's display order, with the template's window). It is an
// <img> in the page's HTML, so the browser fetches it while the viewer's code still loads; Viewer
// keeps it under each viewport until cornerstone3D has drawn there. No cornerstone3D here.
import { useMemo, type CSSProperties } from "react";
import { Box, Button, Group, SegmentedControl, Select, Slider, Stack, Text } from "@mantine/core";
import type { ViewerLayout, ViewportSpec } from "@/lib/viewer/layout";
import { ACTION_LABELS, presetWindow, resolveHotkeys, WINDOW_PRESETS, type SegmentLabel, type ViewerAction, type ViewerTool } from "@/lib/viewer/viewer";
import { seriesPath, type SeriesKey } from "./series-metadata";
import { FIRST_IMAGE_TIMING } from "./names";

/** The left button's tool: navigation or one of the annotation tools offered. */
export type Primary = ViewerTool | "window" | "pan" | "zoom" | "eraser";

/** The tools offered and their keys (a hotkey set that does not resolve falls back to the defaults, with the error). */
export function useOfferedTools(props: { tools?: ViewerTool[]; readOnly?: boolean; hotkeys?: Partial<Record<ViewerAction, string>> }) {
  const offered = useMemo(() => (props.readOnly ? [] : (props.tools ?? [])), [props.tools, props.readOnly]);
  const hotkeys = useMemo(() => {
    try {
      return { map: resolveHotkeys(offered, props.hotkeys), error: null };
    } catch (e) {
      return { map: resolveHotkeys(offered), error: (e as Error).message };
    }
  }, [offered, props.hotkeys]);
  return { offered, hotkeys };
}

export interface ViewerToolbarProps {
  offered: ViewerTool[];
  hotkeys: Map<string, ViewerAction>;
  labels?: SegmentLabel[];
  primary: Primary;
  activeLabel: number;
  brushSize: number;
  overlayOpacity: number;
  /** Whether the layout shows label overlays (their opacity is then offered, as with the brush). */
  overlays?: boolean;
  /** Without handlers (the shell, while the viewer's code loads) the controls are shown disabled. */
  on?: {
    primary(p: Primary): void;
    windowPreset(v: string): void;
    reset(): void;
    help(): void;
    label(v: number): void;
    brushSize(v: number): void;
    overlayOpacity(v: number): void;
  };
}

/** The viewer's tool bar; the shell shows the same one (disabled), so nothing moves when the viewer takes over. */
export function ViewerToolbar({ offered, hotkeys, labels, primary, activeLabel, brushSize, overlayOpacity, overlays, on }: ViewerToolbarProps) {
  const keyOf = (a: ViewerAction) => [...hotkeys.entries()].find(([, x]) => x === a)?.[0];
  const toolButtons: { value: Primary; label: string }[] = [
    { value: "window", label: "Window" },
    { value: "pan", label: "Pan" },
    { value: "zoom", label: "Zoom" },
    ...offered.map((t) => ({ value: t as Primary, label: ACTION_LABELS[t] })),
    ...(offered.length && offered.some((t) => t !== "brush") ? [{ value: "eraser" as Primary, label: "Erase" }] : []),
  ];
  const disabled = !on;
  return (
    <Group gap="xs" wrap="wrap">
      <SegmentedControl
        size="xs"
        value={primary}
        disabled={disabled}
        onChange={(v) => on?.primary(v as Primary)}
        data={toolButtons.map((b) => ({ value: b.value, label: keyOf(b.value as ViewerAction) ? `${b.label} (${keyOf(b.value as ViewerAction)})` : b.label }))}
        aria-label="Tool"
      />
      <Select
        size="xs"
        w={150}
        aria-label="Window preset"
        placeholder="Window preset"
        disabled={disabled}
        data={[{ value: "template", label: "Template window" }, ...Object.keys(WINDOW_PRESETS).map((p) => ({ value: p, label: p }))]}
        onChange={(v) => v && on?.windowPreset(v)}
      />
      <Button size="xs" variant="default" disabled={disabled} onClick={() => on?.reset()}>Reset view{keyOf("reset") ? ` (${keyOf("reset")})` : ""}</Button>
      <Button size="xs" variant="subtle" disabled={disabled} onClick={() => on?.help()}>Keys{keyOf("help") ? ` (${keyOf("help")})` : ""}</Button>
      {(offered.includes("brush") || offered.includes("point")) && (labels?.length ?? 0) > 0 && (
        <Select
          size="xs"
          w={160}
          aria-label="Label"
          value={String(activeLabel)}
          disabled={disabled}
          onChange={(v) => v && on?.label(Number(v))}
          data={(labels ?? []).map((l) => ({ value: String(l.value), label: l.name }))}
        />
      )}
      {(offered.includes("brush") || overlays) && (
        <Group gap={4} w={offered.includes("brush") ? 220 : 140} wrap="nowrap">
          {offered.includes("brush") && (
            <>
              <Text size="xs">Brush</Text>
              <Slider size="xs" style={{ flex: 1 }} min={1} max={40} value={brushSize} disabled={disabled} onChange={(v) => on?.brushSize(v)} aria-label="Brush size" thumbLabel="Brush size" />
            </>
          )}
          <Text size="xs">Opacity</Text>
          <Slider size="xs" style={{ flex: 1 }} min={0} max={1} step={0.05} value={overlayOpacity} disabled={disabled} onChange={(v) => on?.overlayOpacity(v)} aria-label="Overlay opacity" thumbLabel="Overlay opacity" />
        </Group>
      )}
    </Group>
  );
}

/** Whether any viewport of the layout shows label overlays. */
export const hasOverlays = (layout: ViewerLayout) => layout.viewports.some((v) => v.overlays.length > 0);

/** The overlays' line while they load (the viewer's legend takes its place: nothing below it moves). */
export const OverlaysLoading = () => (
  <Text size="xs" c="dimmed">
    Overlays loading…
  </Text>
);

/** Where the viewer's controls start: the left button windows, the first label, a brush of 8 px at half opacity. */
export const INITIAL_CONTROLS = { primary: "window" as Primary, brushSize: 8, overlayOpacity: 0.5 };

/** The archive's rendering of a series' first image in display order, in the viewport's window (relative URL: the page's origin). */
export function firstImageUrl(ref: SeriesKey, spec: Pick<ViewportSpec, "window">): string {
  const w = presetWindow(spec.window);
  const query = `image=first${w ? `&window=${w.center},${w.width}` : ""}`;
  return `${seriesPath(ref)}/rendered?${query}`;
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
      {...{ elementtiming: FIRST_IMAGE_TIMING }}
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

/** The viewer's place while its code loads: its tool bar (disabled) and the grid with the first images. */
export function ViewerShell(props: {
  layout: ViewerLayout;
  scans: Record<string, SeriesKey | null | undefined>;
  tools?: ViewerTool[];
  readOnly?: boolean;
  hotkeys?: Partial<Record<ViewerAction, string>>;
  labels?: SegmentLabel[];
  height?: CSSProperties["height"];
  children?: React.ReactNode;
}) {
  const cells = placeCells(props.layout);
  const { offered, hotkeys } = useOfferedTools(props);
  return (
    <Stack gap={6} h={props.height ?? "100%"} data-testid="viewer-loading">
      <ViewerToolbar offered={offered} hotkeys={hotkeys.map} labels={props.labels} activeLabel={props.labels?.[0]?.value ?? 1} overlays={hasOverlays(props.layout)} {...INITIAL_CONTROLS} />
      {hasOverlays(props.layout) && <OverlaysLoading />}
      {props.children}
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
