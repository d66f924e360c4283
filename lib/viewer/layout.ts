// What the viewer shows, as data: a grid of viewports, each naming the scan (a selector of the task
// template, or a series chosen directly) or overlay it shows, how, and which synchronisation groups
// it joins. Task templates embed this schema for each context (lib/tasks); the plain Browse viewer
// builds one with `defaultLayout`. The viewer component (components/viewer/) renders exactly this.
import { z } from "zod";

export const Orientation = z.enum(["acquired", "axial", "sagittal", "coronal"]);
export type Orientation = z.infer<typeof Orientation>;

/** Named presets and an explicit centre/width. */
export const WindowPreset = z.union([
  z.enum(["auto", "brain", "subdural", "stroke", "bone", "lung", "abdomen", "liver", "mediastinum", "soft-tissue"]),
  z.object({ center: z.number(), width: z.number().positive() }),
]);
export type WindowPreset = z.infer<typeof WindowPreset>;

export const SyncKind = z.enum(["scroll", "window", "zoompan"]);

export const ViewportSpec = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, "a viewport id is 1–40 letters, digits, _ or -"),
  /** The scan shown: a selector name of the template (`t1`), resolved per task to a series. */
  scan: z.string().min(1),
  /** Overlays shown over the scan as labelmaps: selector names of pipeline outputs or SEG series. */
  overlays: z.array(z.string().min(1)).default([]),
  /** "acquired" shows the series as a stack; the others reformat it as a volume (MPR). */
  orientation: Orientation.default("acquired"),
  window: WindowPreset.default("auto"),
  /** Sync groups this viewport joins, e.g. [{kind: "scroll", group: "A"}]. */
  sync: z.array(z.object({ kind: SyncKind, group: z.string().min(1).max(40) })).default([]),
  /** Where in the grid (0-based cell, spans); absent: next free cell, row-major. */
  cell: z.object({ row: z.number().int().min(0), column: z.number().int().min(0), rowSpan: z.number().int().min(1).default(1), columnSpan: z.number().int().min(1).default(1) }).optional(),
});
export type ViewportSpec = z.infer<typeof ViewportSpec>;

export const ViewerLayout = z
  .object({
    rows: z.number().int().min(1).max(4),
    columns: z.number().int().min(1).max(4),
    viewports: z.array(ViewportSpec).min(1).max(16),
  })
  .superRefine((l, ctx) => {
    if (l.viewports.length > l.rows * l.columns) ctx.addIssue({ code: "custom", path: ["viewports"], message: `${l.viewports.length} viewports do not fit a ${l.rows}×${l.columns} grid` });
    const ids = new Set<string>();
    l.viewports.forEach((v, i) => {
      if (ids.has(v.id)) ctx.addIssue({ code: "custom", path: ["viewports", i, "id"], message: `viewport id "${v.id}" is used twice` });
      ids.add(v.id);
      if (v.cell && (v.cell.row + v.cell.rowSpan > l.rows || v.cell.column + v.cell.columnSpan > l.columns)) ctx.addIssue({ code: "custom", path: ["viewports", i, "cell"], message: `viewport "${v.id}" does not fit the ${l.rows}×${l.columns} grid` });
    });
  });
export type ViewerLayout = z.infer<typeof ViewerLayout>;

/** Named grids a template may give instead of rows/columns. */
export const GRIDS = { "1x1": [1, 1], "1x2": [1, 2], "2x1": [2, 1], "2x2": [2, 2], "1x3": [1, 3], "3x3": [3, 3] } as const;

/** The plain viewer of one series: one stack viewport. */
export function defaultLayout(scan: string): ViewerLayout {
  return ViewerLayout.parse({ rows: 1, columns: 1, viewports: [{ id: "main", scan }] });
}
