// Task templates as data (issue #14): what a task shows (scan selectors matched against an
// experiment's series, scored as OHIF's hanging protocols do; pipeline outputs as overlays), how
// (per context: a ViewerLayout of lib/viewer/layout.ts), which tools and hotkeys the reader has,
// and what is asked (a form whose answers are validated by lib/tasks/answers.ts, on the server and
// in the browser alike). One schema, written in YAML or JSON, versioned by `schemaVersion`.
import { z } from "zod";
import { GRIDS, ViewerLayout } from "@/lib/viewer/layout";
import { checkPattern } from "@/lib/regex";

const ident = (what: string) => z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,39}$/, `a ${what} id is 1–40 letters, digits, _ or -, starting with a letter`);

// ---- What to show -----------------------------------------------------------------------------

/** The attributes of a series a rule may test (lib/tasks/match.ts SeriesInfo). */
export const SeriesAttribute = z.enum(["modality", "seriesDescription", "imageType", "orientation", "numberOfSlices", "seriesNumber"]);
export type SeriesAttribute = z.infer<typeof SeriesAttribute>;

/**
 * One matching rule: a test of one attribute. Several tests in one rule must all pass.
 * - `equals` (case-insensitive for text), `oneOf`, `contains` (case-insensitive substring; for
 *   imageType: one of the values), `matches` (a regular expression run on RE2, case-insensitive),
 *   `min`/`max` (inclusive, numbers).
 * - A passed rule adds `weight` to the series' score; a failed `required` rule discards the series.
 */
export const MatchRule = z
  .object({
    attribute: SeriesAttribute,
    equals: z.union([z.string(), z.number()]).optional(),
    oneOf: z.array(z.union([z.string(), z.number()])).min(1).optional(),
    contains: z.string().min(1).optional(),
    matches: z.string().min(1).max(500).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    weight: z.number().min(0).max(1000).default(1),
    required: z.boolean().default(false),
  })
  .strict()
  .superRefine((r, ctx) => {
    const tests = ["equals", "oneOf", "contains", "matches", "min", "max"].filter((k) => r[k as keyof typeof r] !== undefined);
    if (tests.length === 0) ctx.addIssue({ code: "custom", message: `a rule on ${r.attribute} needs a test: equals, oneOf, contains, matches, min or max` });
    if (r.matches !== undefined) {
      const bad = checkPattern(r.matches, "i");
      if (bad) ctx.addIssue({ code: "custom", path: ["matches"], message: bad });
    }
    const numeric = r.attribute === "numberOfSlices" || r.attribute === "seriesNumber";
    if (!numeric && (r.min !== undefined || r.max !== undefined)) ctx.addIssue({ code: "custom", message: `min/max test numbers; ${r.attribute} is text` });
  });
export type MatchRule = z.infer<typeof MatchRule>;

/** A named scan of the template: the best-scoring series of the experiment. */
export const ScanSelector = z
  .object({
    /** What the reader and the "cannot be done" state call it, e.g. "T1-weighted series". */
    label: z.string().min(1).max(120),
    rules: z.array(MatchRule).min(1),
    /** A task whose experiment has no series for a required selector cannot be done. */
    required: z.boolean().default(true),
  })
  .strict();
export type ScanSelector = z.infer<typeof ScanSelector>;

/**
 * An overlay: a pipeline's result stored on the experiment (a resource its run wrote back), by the
 * pipeline's id and the resource's name (`output`: the sink's `resource`), e.g. a segmentation
 * NIfTI or DICOM SEG. Viewports list the overlays they show (`layout.viewports[].overlays`).
 */
export const OverlaySelector = z
  .object({
    label: z.string().min(1).max(120),
    pipeline: z.string().min(1).max(120),
    output: z.string().min(1).max(120),
    required: z.boolean().default(false),
  })
  .strict();
export type OverlaySelector = z.infer<typeof OverlaySelector>;

// ---- Tools and hotkeys ------------------------------------------------------------------------

const colour = z.string().regex(/^#[0-9a-fA-F]{6}$/, "a colour is #rrggbb");
const toolBase = { id: ident("tool").optional(), hotkey: z.string().min(1).max(20).optional() };
export const Tool = z.discriminatedUnion("type", [
  z.object({ type: z.literal("length"), ...toolBase }).strict(),
  z.object({ type: z.literal("angle"), ...toolBase }).strict(),
  z.object({ type: z.literal("ellipseRoi"), statistics: z.boolean().default(true), ...toolBase }).strict(),
  z.object({ type: z.literal("rectangleRoi"), statistics: z.boolean().default(true), ...toolBase }).strict(),
  z.object({ type: z.literal("point"), labels: z.array(z.string().min(1).max(60)).min(1), ...toolBase }).strict(),
  z.object({ type: z.literal("brush"), labels: z.array(z.object({ name: z.string().min(1).max(60), color: colour }).strict()).min(1), ...toolBase }).strict(),
]);
export type Tool = z.infer<typeof Tool>;
export const TOOL_TYPES = ["length", "angle", "ellipseRoi", "rectangleRoi", "point", "brush"] as const;

/** Commands a hotkey may trigger besides selecting a tool. */
export const HOTKEY_COMMANDS = ["save", "submit", "nextContext", "previousContext", "nextViewport", "resetView", "undo"] as const;

// ---- The form ---------------------------------------------------------------------------------

const choice = z.object({ value: z.string().min(1).max(120), label: z.string().min(1).max(200).optional() }).strict();
const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** Show the question only when another question's answer is (or is not / is one of) a value. */
export const ShowIf = z
  .object({
    question: ident("question"),
    equals: scalar.optional(),
    notEquals: scalar.optional(),
    oneOf: z.array(scalar).min(1).optional(),
  })
  .strict()
  .refine((s) => s.equals !== undefined || s.notEquals !== undefined || s.oneOf !== undefined, "showIf needs equals, notEquals or oneOf");
export type ShowIf = z.infer<typeof ShowIf>;

const qBase = {
  id: ident("question"),
  label: z.string().min(1).max(500),
  help: z.string().max(2000).optional(),
  required: z.boolean().default(false),
  showIf: ShowIf.optional(),
};
export const Question = z.discriminatedUnion("type", [
  z.object({ ...qBase, type: z.literal("single"), options: z.array(choice).min(2), default: z.string().optional() }).strict(),
  z.object({ ...qBase, type: z.literal("multiple"), options: z.array(choice).min(1), minSelected: z.number().int().min(0).optional(), maxSelected: z.number().int().min(1).optional(), default: z.array(z.string()).optional() }).strict(),
  z.object({ ...qBase, type: z.literal("number"), min: z.number().optional(), max: z.number().optional(), unit: z.string().max(30).optional(), default: z.number().optional() }).strict(),
  z.object({ ...qBase, type: z.literal("integer"), min: z.number().int().optional(), max: z.number().int().optional(), unit: z.string().max(30).optional(), default: z.number().int().optional() }).strict(),
  z.object({ ...qBase, type: z.literal("text"), maxLength: z.number().int().min(1).max(20000).default(2000), multiline: z.boolean().default(false), default: z.string().optional() }).strict(),
  z.object({ ...qBase, type: z.literal("boolean"), default: z.boolean().optional() }).strict(),
  z.object({ ...qBase, type: z.literal("likert"), points: z.number().int().min(3).max(11).default(5), minLabel: z.string().max(120).optional(), maxLabel: z.string().max(120).optional(), default: z.number().int().optional() }).strict(),
  z.object({ ...qBase, type: z.literal("date"), min: z.iso.date().optional(), max: z.iso.date().optional(), default: z.iso.date().optional() }).strict(),
]);
export type Question = z.infer<typeof Question>;

/** A rule on the annotations of a context, e.g. "at least one lesion point". */
export const AnnotationRule = z
  .object({
    tool: ident("tool"),
    label: z.string().min(1).max(60).optional(),
    min: z.number().int().min(0).default(0),
    max: z.number().int().min(0).optional(),
    /** Applies only when this question is visible and answered so (e.g. lesions = yes). */
    showIf: ShowIf.optional(),
    message: z.string().max(300).optional(),
  })
  .strict();
export type AnnotationRule = z.infer<typeof AnnotationRule>;

// ---- Contexts (steps) and the template ----------------------------------------------------------

/** A layout: the viewer's schema, or a named grid ("2x2") instead of rows and columns. */
const LayoutInput = z.preprocess((v, ctx) => {
  if (v && typeof v === "object" && "grid" in v) {
    const { grid, ...rest } = v as { grid: unknown };
    const g = GRIDS[grid as keyof typeof GRIDS];
    if (g) return { rows: g[0], columns: g[1], ...rest };
    ctx.addIssue({ code: "custom", path: ["grid"], message: `unknown grid "${String(grid)}" (use ${Object.keys(GRIDS).join(", ")}, or rows and columns)` });
    return z.NEVER;
  }
  return v;
}, ViewerLayout);

export const Context = z
  .object({
    id: ident("context"),
    title: z.string().min(1).max(200),
    layout: LayoutInput,
    /** Couple cursors (crosshairs) across the viewports of this context. */
    linkCursors: z.boolean().default(false),
    tools: z.array(Tool).default([]),
    /** Key → tool id or command (HOTKEY_COMMANDS). */
    hotkeys: z.record(z.string().min(1).max(20), z.string()).default({}),
    form: z.array(Question).default([]),
    annotationRules: z.array(AnnotationRule).default([]),
    instructions: z.string().max(20000).optional(),
  })
  .strict();
export type Context = z.infer<typeof Context>;

export const TEMPLATE_SCHEMA_VERSION = 1;

export const TaskTemplate = z
  .object({
    schemaVersion: z.literal(TEMPLATE_SCHEMA_VERSION),
    title: z.string().min(1).max(200),
    description: z.string().max(5000).optional(),
    /** Markdown shown to the reader, or a link to the SOP. */
    instructions: z.union([z.object({ markdown: z.string().min(1).max(50000) }).strict(), z.object({ url: z.url() }).strict()]).optional(),
    estimatedMinutes: z.number().positive().max(600).optional(),
    scans: z.record(ident("scan"), ScanSelector),
    overlays: z.record(ident("overlay"), OverlaySelector).default({}),
    contexts: z.array(Context).min(1).max(20),
  })
  .strict()
  .superRefine((t, ctx) => {
    const names = new Set([...Object.keys(t.scans), ...Object.keys(t.overlays)]);
    for (const k of Object.keys(t.overlays)) if (k in t.scans) ctx.addIssue({ code: "custom", path: ["overlays", k], message: `"${k}" is both a scan and an overlay` });
    const contextIds = new Set<string>();
    const questionIds = new Map<string, Question>();
    t.contexts.forEach((c, ci) => {
      const at = (...p: (string | number)[]) => ["contexts", ci, ...p];
      if (contextIds.has(c.id)) ctx.addIssue({ code: "custom", path: at("id"), message: `context id "${c.id}" is used twice` });
      contextIds.add(c.id);
      c.layout.viewports.forEach((v, vi) => {
        if (!(v.scan in t.scans)) ctx.addIssue({ code: "custom", path: at("layout", "viewports", vi, "scan"), message: `viewport "${v.id}" shows "${v.scan}", which is not a scan of the template (${Object.keys(t.scans).join(", ") || "none"})` });
        v.overlays.forEach((o, oi) => {
          if (!names.has(o)) ctx.addIssue({ code: "custom", path: at("layout", "viewports", vi, "overlays", oi), message: `overlay "${o}" is not a scan or overlay of the template` });
        });
      });
      const toolIds = new Set<string>();
      c.tools.forEach((tool, ti) => {
        const id = tool.id ?? tool.type;
        if (toolIds.has(id)) ctx.addIssue({ code: "custom", path: at("tools", ti), message: `tool id "${id}" is used twice in this context: give the tools ids` });
        toolIds.add(id);
      });
      for (const [key, action] of Object.entries(c.hotkeys)) {
        if (!toolIds.has(action) && !(HOTKEY_COMMANDS as readonly string[]).includes(action)) {
          ctx.addIssue({ code: "custom", path: at("hotkeys", key), message: `hotkey "${key}" names "${action}", which is neither a tool of this context nor a command (${HOTKEY_COMMANDS.join(", ")})` });
        }
      }
      c.form.forEach((q, qi) => {
        if (questionIds.has(q.id)) ctx.addIssue({ code: "custom", path: at("form", qi, "id"), message: `question id "${q.id}" is used twice (ids are unique across contexts)` });
        questionIds.set(q.id, q);
        checkQuestion(q, (p, message) => ctx.addIssue({ code: "custom", path: at("form", qi, ...p), message }));
      });
      c.annotationRules.forEach((r, ri) => {
        const tool = c.tools.find((x) => (x.id ?? x.type) === r.tool);
        if (!tool) ctx.addIssue({ code: "custom", path: at("annotationRules", ri, "tool"), message: `annotation rule names tool "${r.tool}", which this context does not have` });
        else if (r.label !== undefined) {
          const labels = tool.type === "point" ? tool.labels : tool.type === "brush" ? tool.labels.map((l) => l.name) : [];
          if (!labels.includes(r.label)) ctx.addIssue({ code: "custom", path: at("annotationRules", ri, "label"), message: `tool "${r.tool}" has no label "${r.label}"` });
        }
        if (r.max !== undefined && r.max < r.min) ctx.addIssue({ code: "custom", path: at("annotationRules", ri, "max"), message: "max is below min" });
      });
    });
    // showIf must name a question that comes earlier (so there are no cycles) and a value it can take.
    const seen = new Set<string>();
    t.contexts.forEach((c, ci) => {
      c.form.forEach((q, qi) => {
        if (q.showIf && !seen.has(q.showIf.question)) {
          ctx.addIssue({ code: "custom", path: ["contexts", ci, "form", qi, "showIf", "question"], message: `showIf names "${q.showIf.question}", which is not a question asked before this one` });
        }
        seen.add(q.id);
      });
      c.annotationRules.forEach((r, ri) => {
        if (r.showIf && !questionIds.has(r.showIf.question)) ctx.addIssue({ code: "custom", path: ["contexts", ci, "annotationRules", ri, "showIf", "question"], message: `showIf names "${r.showIf.question}", which is not a question of the template` });
      });
    });
  });
export type TaskTemplate = z.infer<typeof TaskTemplate>;

function checkQuestion(q: Question, issue: (path: string[], message: string) => void) {
  if ((q.type === "number" || q.type === "integer") && q.min !== undefined && q.max !== undefined && q.max < q.min) issue(["max"], "max is below min");
  if ((q.type === "single" || q.type === "multiple") && new Set(q.options.map((o) => o.value)).size !== q.options.length) issue(["options"], "two options have the same value");
  if (q.type === "single" && q.default !== undefined && !q.options.some((o) => o.value === q.default)) issue(["default"], `default "${q.default}" is not one of the options`);
  if (q.type === "multiple" && q.minSelected !== undefined && q.maxSelected !== undefined && q.maxSelected < q.minSelected) issue(["maxSelected"], "maxSelected is below minSelected");
  if (q.type === "likert" && q.default !== undefined && (q.default < 1 || q.default > q.points)) issue(["default"], `default must be 1–${q.points}`);
}

/** Every question of the template, in order, with its context. */
export function questionsOf(t: TaskTemplate): { context: string; question: Question }[] {
  return t.contexts.flatMap((c) => c.form.map((question) => ({ context: c.id, question })));
}

/** A tool's id (its type when none is given). */
export function toolId(t: Tool): string {
  return t.id ?? t.type;
}
