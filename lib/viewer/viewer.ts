// The viewer's domain rules, framework-free: window presets, the tools a template may name and their
// default hotkeys, the order of a series' images, the viewport text (only non-identifying values),
// and the JSON form of annotations that drafts and results store (one zod schema for writer and
// reader). components/viewer/ turns these into cornerstone3D calls.
import { z } from "zod";
import type { WindowPreset } from "./layout";

/** Window presets in Hounsfield units (centre, width); "auto" uses the image's own window. */
export const WINDOW_PRESETS = {
  brain: { center: 40, width: 80 },
  subdural: { center: 75, width: 215 },
  stroke: { center: 40, width: 40 },
  bone: { center: 480, width: 2500 },
  lung: { center: -600, width: 1500 },
  abdomen: { center: 50, width: 400 },
  liver: { center: 30, width: 150 },
  mediastinum: { center: 50, width: 350 },
  "soft-tissue": { center: 40, width: 400 },
} as const satisfies Record<string, { center: number; width: number }>;

/** The window a preset stands for, or null for "auto" (the image's own VOI). */
export function presetWindow(p: WindowPreset): { center: number; width: number } | null {
  if (typeof p === "object") return p;
  if (p === "auto") return null;
  return WINDOW_PRESETS[p];
}

/** VOI range (lower, upper) of a centre/width window, as cornerstone3D's linear VOI has it. */
export function windowToRange(w: { center: number; width: number }): { lower: number; upper: number } {
  return { lower: w.center - w.width / 2, upper: w.center + w.width / 2 };
}
export function rangeToWindow(r: { lower: number; upper: number }): { center: number; width: number } {
  return { center: (r.lower + r.upper) / 2, width: r.upper - r.lower };
}

/** Tools a template (or the plain viewer) may offer. Navigation (scroll, window, zoom, pan) is always there. */
export const ViewerTool = z.enum(["length", "angle", "ellipse", "rectangle", "point", "brush"]);
export type ViewerTool = z.infer<typeof ViewerTool>;
export const ALL_TOOLS: ViewerTool[] = ViewerTool.options;

/** Actions that can have a hotkey: a tool, or a viewer command. */
export const ViewerAction = z.enum(["length", "angle", "ellipse", "rectangle", "point", "brush", "window", "pan", "zoom", "reset", "next-image", "previous-image", "help", "eraser"]);
export type ViewerAction = z.infer<typeof ViewerAction>;

export const DEFAULT_HOTKEYS: Record<ViewerAction, string> = {
  window: "w",
  pan: "p",
  zoom: "z",
  length: "l",
  angle: "a",
  ellipse: "e",
  rectangle: "r",
  point: "t",
  brush: "b",
  eraser: "x",
  reset: "0",
  "next-image": "ArrowDown",
  "previous-image": "ArrowUp",
  help: "?",
};

export const ACTION_LABELS: Record<ViewerAction, string> = {
  window: "Window (drag)",
  pan: "Pan (drag)",
  zoom: "Zoom (drag)",
  length: "Length",
  angle: "Angle",
  ellipse: "Ellipse ROI",
  rectangle: "Rectangle ROI",
  point: "Labelled point",
  brush: "Brush",
  eraser: "Erase annotation",
  reset: "Reset to the template's view",
  "next-image": "Next image",
  "previous-image": "Previous image",
  help: "This help",
};

export const Hotkeys = z.record(ViewerAction, z.string().min(1).max(20));

/**
 * The hotkey map: defaults overridden by the template's, for the actions available (tools not
 * offered lose their key). A key given to two actions is an error that names both.
 */
export function resolveHotkeys(tools: ViewerTool[], overrides: Partial<Record<ViewerAction, string>> = {}): Map<string, ViewerAction> {
  const offered = new Set<string>(tools);
  const keys = new Map<string, ViewerAction>();
  for (const action of ViewerAction.options) {
    if ((ViewerTool.options as string[]).includes(action) && !offered.has(action)) continue;
    if (action === "eraser" && tools.length === 0) continue;
    const key = overrides[action] ?? DEFAULT_HOTKEYS[action];
    const normal = key.length === 1 ? key.toLowerCase() : key;
    const other = keys.get(normal);
    if (other) throw new Error(`The hotkey "${key}" is given to both "${other}" and "${action}"; give each action its own key.`);
    keys.set(normal, action);
  }
  return keys;
}

/** A brush / point label of the template: its value in the labelmap (1…255), name and colour. */
export const SegmentLabel = z.object({
  value: z.number().int().min(1).max(255),
  name: z.string().min(1).max(80),
  color: z.string().regex(/^#[0-9a-fA-F]{6}$/).optional(),
});
export type SegmentLabel = z.infer<typeof SegmentLabel>;

const PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4"];
export function labelColor(l: SegmentLabel, i: number): [number, number, number] {
  const hex = l.color ?? PALETTE[i % PALETTE.length]!;
  return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
}

// ---------------------------------------------------------------------------------------------
// Ordering a series: lib/viewer/order (no zod: the viewer's frame fetcher worker uses it too)

export { orderInstances, type InstanceGeometry } from "./order";

// ---------------------------------------------------------------------------------------------
// Viewport text

export interface ViewportTextInput {
  subjectLabel?: string | null;
  experimentLabel?: string | null;
  seriesDescription?: string | null;
  seriesNumber?: number | null;
  modality?: string | null;
  orientation: string;
  imageIndex: number; // 0-based
  imageCount: number;
  slicePosition?: number | null; // mm along the normal
  window?: { center: number; width: number } | null;
}

/**
 * The text in a viewport's corners. Only pseudonymous labels and technical values: the caller has
 * no patient name, ID, birth date or accession to give (the viewer never reads them from metadata).
 */
export function viewportText(t: ViewportTextInput): { topLeft: string[]; topRight: string[]; bottomLeft: string[]; bottomRight: string[] } {
  const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1));
  return {
    topLeft: [t.subjectLabel, t.experimentLabel].filter((s): s is string => Boolean(s)),
    topRight: [[t.seriesNumber != null ? `#${t.seriesNumber}` : null, t.modality, t.seriesDescription].filter(Boolean).join(" "), t.orientation === "acquired" ? "" : t.orientation].filter(Boolean),
    bottomLeft: [`Im ${t.imageCount ? t.imageIndex + 1 : 0}/${t.imageCount}`, t.slicePosition != null ? `Pos ${t.slicePosition.toFixed(1)} mm` : ""].filter(Boolean),
    bottomRight: t.window ? [`W ${fmt(t.window.width)} L ${fmt(t.window.center)}`] : [],
  };
}

/** DICOM JSON attributes the viewer may read; everything else in the metadata is left alone. */
export const SAFE_TEXT_TAGS = { SeriesDescription: "0008103E", SeriesNumber: "00200011", Modality: "00080060" } as const;

// ---------------------------------------------------------------------------------------------
// Annotations as JSON (drafts and results)

const Point3 = z.tuple([z.number(), z.number(), z.number()]);

/** Where an annotation sits: the scan (template selector name), and the image when it was drawn on one. */
export const AnnotationRef = z.object({
  scan: z.string().min(1),
  viewportId: z.string().min(1).optional(),
  sopInstanceUid: z.string().regex(/^[0-9.]{1,64}$/).optional(),
  frame: z.number().int().min(1).optional(),
  frameOfReferenceUid: z.string().max(64).optional(),
  viewPlaneNormal: Point3.optional(),
  viewUp: Point3.optional(),
});

export const Measurement = z.object({
  uid: z.string().min(1).max(80),
  tool: ViewerTool.exclude(["brush"]),
  ref: AnnotationRef,
  /** World coordinates (mm, patient space) of the handles. */
  points: z.array(Point3).min(1).max(1000),
  label: z.string().max(200).optional(),
  /** Computed by the viewer when drawn; informative (recomputed on display). */
  stats: z.record(z.string(), z.union([z.number(), z.string(), z.null()])).optional(),
});
export type Measurement = z.infer<typeof Measurement>;

/** A brush labelmap of one image: runs of [start, length, value] over the image's pixels, row-major. */
export const LabelmapSlice = z.object({
  sopInstanceUid: z.string().regex(/^[0-9.]{1,64}$/),
  frame: z.number().int().min(1).default(1),
  rows: z.number().int().min(1),
  columns: z.number().int().min(1),
  runs: z.array(z.tuple([z.number().int().min(0), z.number().int().min(1), z.number().int().min(1).max(255)])),
});
export const Labelmap = z.object({ scan: z.string().min(1), slices: z.array(LabelmapSlice) });
export type Labelmap = z.infer<typeof Labelmap>;

export const ViewerAnnotations = z.object({
  version: z.literal(1),
  measurements: z.array(Measurement).max(5000).default([]),
  labelmaps: z.array(Labelmap).max(64).default([]),
});
export type ViewerAnnotations = z.infer<typeof ViewerAnnotations>;

/**
 * A label overlay the viewer shows read-only (a task template's pipeline result): a NIfTI label
 * volume read from `url` (lib/viewer/nifti-overlay), or a labelmap on the series' images (a DICOM
 * SEG read by the server). Viewports show the overlays their spec lists (ViewportSpec.overlays).
 * With `message` set, it cannot be shown and the viewer says why.
 */
export interface LabelOverlay {
  name: string;
  label: string;
  url: string | null;
  labels: SegmentLabel[] | null;
  labelmap: Labelmap | null;
  message: string | null;
}

/** The labels of an overlay: its own, or one per label value present (named after the overlay). */
export function overlayLabels(o: Pick<LabelOverlay, "label" | "labels">, present: number[]): SegmentLabel[] {
  if (o.labels?.length) return o.labels;
  return present.map((value) => ({ value, name: present.length === 1 ? o.label : `${o.label} ${value}` }));
}

export const EMPTY_ANNOTATIONS: ViewerAnnotations = { version: 1, measurements: [], labelmaps: [] };

/** Run-length encodes a labelmap slice (non-zero runs only). */
export function encodeRuns(values: ArrayLike<number>): [number, number, number][] {
  const runs: [number, number, number][] = [];
  let i = 0;
  while (i < values.length) {
    const v = values[i]!;
    if (v === 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < values.length && values[j] === v) j++;
    runs.push([i, j - i, v]);
    i = j;
  }
  return runs;
}

/** Writes runs back into a zeroed array of the slice's size; runs beyond it are an error. */
export function decodeRuns(runs: [number, number, number][], size: number, into?: { [i: number]: number; length: number }): { [i: number]: number; length: number } {
  const out = into ?? new Uint8Array(size);
  for (const [start, length, value] of runs) {
    if (start + length > size) throw new Error(`A labelmap run (${start}+${length}) goes beyond the image (${size} pixels); the annotations do not belong to this image.`);
    for (let k = start; k < start + length; k++) out[k] = value;
  }
  return out;
}
