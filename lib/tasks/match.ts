// Matching a template's scan selectors against an experiment's series, as OHIF's hanging protocols
// match display sets: every rule that passes adds its weight, a failed required rule discards the
// series, the highest score wins, ties go to the lower series number, then the series UID. A
// required selector that matches nothing makes the task "cannot be done", with a reason naming it.
import { compilePattern } from "@/lib/regex";
import type { MatchRule, OverlaySelector, ScanSelector, SeriesAttribute, TaskTemplate } from "./template";

/** What the matcher knows of a series (the archive index; unknown attributes are null). */
export interface SeriesInfo {
  seriesInstanceUid: string;
  modality: string | null;
  seriesDescription: string | null;
  imageType?: string[] | null;
  /** Of the slices: "axial" | "sagittal" | "coronal" | "oblique". */
  orientation?: string | null;
  numberOfSlices: number | null;
  seriesNumber: number | null;
}

/** A pipeline output of the experiment that an overlay selector may name. */
export interface OutputInfo {
  pipeline: string;
  output: string;
  url: string;
  runId?: string;
  /** The stored resource (ArchiveResource) holding it. */
  resourceId?: string;
}

export interface ResolvedScan {
  selector: string;
  label: string;
  seriesInstanceUid: string;
  seriesDescription: string | null;
  modality: string | null;
  numberOfSlices: number | null;
  score: number;
}

export interface Resolution {
  scans: Record<string, ResolvedScan>;
  overlays: Record<string, OutputInfo>;
  /** Optional selectors with no match (their viewports stay empty and say so). */
  missingOptional: string[];
  /** Why the task cannot be done (a required selector matched nothing); null when it can. */
  cannotBeDone: string | null;
}

function attr(s: SeriesInfo, a: SeriesAttribute): string | number | string[] | null {
  const v = s[a];
  return v === undefined ? null : v;
}

/** Whether a rule passes for a series. An unknown attribute value fails every test. */
export function rulePasses(rule: MatchRule, s: SeriesInfo): boolean {
  const v = attr(s, rule.attribute);
  if (v === null) return false;
  const values = (Array.isArray(v) ? v : [v]).map((x) => (typeof x === "string" ? x.trim() : x));
  const eq = (a: string | number, b: string | number) => (typeof a === "string" && typeof b === "string" ? a.toLowerCase() === b.toLowerCase() : String(a) === String(b));
  if (rule.equals !== undefined && !values.some((x) => eq(x, rule.equals!))) return false;
  if (rule.oneOf !== undefined && !values.some((x) => rule.oneOf!.some((o) => eq(x, o)))) return false;
  if (rule.contains !== undefined) {
    const needle = rule.contains.toLowerCase();
    if (!values.some((x) => String(x).toLowerCase().includes(needle))) return false;
  }
  if (rule.matches !== undefined) {
    const p = compilePattern(rule.matches, "i");
    if (!values.some((x) => p.test(String(x)))) return false;
  }
  if (rule.min !== undefined || rule.max !== undefined) {
    const n = typeof values[0] === "number" ? values[0] : Number(values[0]);
    if (!Number.isFinite(n)) return false;
    if (rule.min !== undefined && n < rule.min) return false;
    if (rule.max !== undefined && n > rule.max) return false;
  }
  return true;
}

/** The series' score for a selector, or null when a required rule fails. */
export function scoreSeries(selector: ScanSelector, s: SeriesInfo): number | null {
  let score = 0;
  for (const r of selector.rules) {
    if (rulePasses(r, s)) score += r.weight;
    else if (r.required) return null;
  }
  return score;
}

/** The candidates of a selector, best first (score desc, series number asc, UID asc). */
export function rankSeries(selector: ScanSelector, series: SeriesInfo[]): { series: SeriesInfo; score: number }[] {
  return series
    .map((s) => ({ series: s, score: scoreSeries(selector, s) }))
    .filter((c): c is { series: SeriesInfo; score: number } => c.score !== null)
    .sort(
      (a, b) =>
        b.score - a.score ||
        (a.series.seriesNumber ?? Number.MAX_SAFE_INTEGER) - (b.series.seriesNumber ?? Number.MAX_SAFE_INTEGER) ||
        a.series.seriesInstanceUid.localeCompare(b.series.seriesInstanceUid),
    );
}

/**
 * Resolves every selector of the template for one experiment. A series may serve several selectors
 * (e.g. axial and sagittal reformats of one volume). Optional selectors may be left empty.
 */
export function resolveTemplate(t: Pick<TaskTemplate, "scans" | "overlays">, series: SeriesInfo[], outputs: OutputInfo[] = []): Resolution {
  const scans: Record<string, ResolvedScan> = {};
  const overlays: Record<string, OutputInfo> = {};
  const missingOptional: string[] = [];
  const missingRequired: string[] = [];
  for (const [name, sel] of Object.entries(t.scans)) {
    const best = rankSeries(sel, series)[0];
    if (best) {
      scans[name] = {
        selector: name,
        label: sel.label,
        seriesInstanceUid: best.series.seriesInstanceUid,
        seriesDescription: best.series.seriesDescription,
        modality: best.series.modality,
        numberOfSlices: best.series.numberOfSlices,
        score: best.score,
      };
    } else if (sel.required) missingRequired.push(sel.label);
    else missingOptional.push(name);
  }
  for (const [name, sel] of Object.entries(t.overlays ?? {}) as [string, OverlaySelector][]) {
    const out = outputs.find((o) => o.pipeline === sel.pipeline && o.output === sel.output);
    if (out) overlays[name] = out;
    else if (sel.required) missingRequired.push(sel.label);
    else missingOptional.push(name);
  }
  const cannotBeDone = missingRequired.length ? `cannot be done: no ${missingRequired.join(", no ")}` : null;
  return { scans, overlays, missingOptional, cannotBeDone };
}
