// The bridge between a task template's context and the viewer (components/viewer): which viewer
// tools and labels the context offers, its hotkeys (tool keys go to the viewer, commands such as
// save/submit to the task page), and the translation of the viewer's annotation JSON
// (lib/viewer/viewer.ts ViewerAnnotations) to the task's annotations (lib/tasks/answers.ts
// Annotation, what the template's annotation rules and the disagreement rule read) and back.
import { Measurement, Labelmap, type SegmentLabel, type ViewerAction, type ViewerAnnotations, type ViewerTool } from "@/lib/viewer/viewer";
import type { Annotation } from "./answers";
import { HOTKEY_COMMANDS, toolId, type Context, type Tool } from "./template";

const VIEWER_TOOL: Record<Tool["type"], ViewerTool> = { length: "length", angle: "angle", ellipseRoi: "ellipse", rectangleRoi: "rectangle", point: "point", brush: "brush" };

export type TaskCommand = (typeof HOTKEY_COMMANDS)[number];

export interface ContextViewerSetup {
  tools: ViewerTool[];
  labels: SegmentLabel[];
  /** Viewer actions with the template's keys (tool hotkeys and `hotkeys` naming a tool). */
  viewerHotkeys: Partial<Record<ViewerAction, string>>;
  /** Keys of the page's commands (save, submit, …). */
  commands: Record<string, TaskCommand>;
}

/** A series as the viewer is given it (components/viewer SeriesRef), with the pseudonymous labels it shows. */
export interface TaskSeriesRef {
  projectId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  subjectLabel: string;
  experimentLabel: string;
}

/**
 * Each of the template's scans (by name) as the series matched for the task, or null when none
 * matched (its viewports stay empty and say so). The task page and its HTML's early start both use it.
 */
export function taskSeries(
  projectId: string,
  scanNames: string[],
  task: { resolution: { scans?: Record<string, { seriesInstanceUid: string }> } | null; experiment: { studyInstanceUid: string; subject: string; label: string } | null },
): Record<string, TaskSeriesRef | null> {
  const out: Record<string, TaskSeriesRef | null> = {};
  for (const name of scanNames) {
    const r = task.resolution?.scans?.[name];
    out[name] = r && task.experiment ? { projectId, studyInstanceUid: task.experiment.studyInstanceUid, seriesInstanceUid: r.seriesInstanceUid, subjectLabel: task.experiment.subject, experimentLabel: task.experiment.label } : null;
  }
  return out;
}

/** What the viewer is given for one context of a template. */
export function viewerSetup(c: Context): ContextViewerSetup {
  const tools = [...new Set(c.tools.map((t) => VIEWER_TOOL[t.type]))];
  const labels: SegmentLabel[] = [];
  for (const t of c.tools) {
    if (t.type === "brush") t.labels.forEach((l) => labels.push({ value: labels.length + 1, name: l.name, color: l.color }));
    if (t.type === "point") t.labels.forEach((l) => labels.push({ value: labels.length + 1, name: l }));
  }
  const viewerHotkeys: Partial<Record<ViewerAction, string>> = {};
  for (const t of c.tools) if (t.hotkey) viewerHotkeys[VIEWER_TOOL[t.type]] = t.hotkey;
  const commands: Record<string, TaskCommand> = {};
  for (const [key, action] of Object.entries(c.hotkeys)) {
    const tool = c.tools.find((t) => toolId(t) === action);
    if (tool) viewerHotkeys[VIEWER_TOOL[tool.type]] = key;
    else if ((HOTKEY_COMMANDS as readonly string[]).includes(action)) commands[key] = action as TaskCommand;
  }
  return { tools, labels: labels.slice(0, 255), viewerHotkeys, commands };
}

/** The viewer's annotations of one context as the task's annotations (the viewer's JSON kept in `data`). */
export function toTaskAnnotations(c: Context, a: ViewerAnnotations): Annotation[] {
  const byType = (type: ViewerTool) => c.tools.find((t) => VIEWER_TOOL[t.type] === type);
  const out: Annotation[] = [];
  for (const m of a.measurements) {
    const tool = byType(m.tool);
    if (!tool) continue;
    out.push({
      id: m.uid,
      context: c.id,
      tool: toolId(tool),
      ...(m.label ? { label: m.label.slice(0, 60) } : {}),
      ...(m.ref.viewportId ? { viewport: m.ref.viewportId } : {}),
      ...(m.ref.sopInstanceUid ? { sopInstanceUid: m.ref.sopInstanceUid } : {}),
      ...(m.ref.frame ? { frame: m.ref.frame } : {}),
      points: m.points,
      data: { viewer: m, ...(m.stats ? { stats: m.stats } : {}) },
    });
  }
  const brush = byType("brush");
  if (brush) a.labelmaps.forEach((l, i) => out.push({ id: `labelmap-${l.scan}-${i}`.slice(0, 100), context: c.id, tool: toolId(brush), points: [], data: { labelmap: l } }));
  return out;
}

/** The task's annotations of one context back as the viewer's JSON (what it can restore). */
export function toViewerAnnotations(contextId: string, annotations: readonly Annotation[]): ViewerAnnotations {
  const measurements: Measurement[] = [];
  const labelmaps: Labelmap[] = [];
  for (const a of annotations) {
    if (a.context !== contextId) continue;
    const m = Measurement.safeParse(a.data?.viewer);
    if (m.success) measurements.push(m.data);
    const l = Labelmap.safeParse(a.data?.labelmap);
    if (l.success) labelmaps.push(l.data);
  }
  return { version: 1, measurements, labelmaps };
}
