// A pipeline's sources on archived experiments: which scans (by modality, series description
// pattern and count) or which earlier results (a resource) each source takes, as planner items
// keyed [subject, experiment, scan] by archive ids. Experiments that do not have what a source
// asks for are skipped with a note the run shows (ids and counts only: no PHI).
import type { SourceItem } from "./plan";
import type { PipelineDefinition, SourceDefinition } from "./schema";

export interface ScanRow {
  id: string;
  seriesNumber: number | null;
  modality: string | null;
  seriesDescription: string | null;
  instanceCount: number;
}
export interface ResourceRow {
  id: string;
  name: string;
  scanId: string | null;
}
export interface ExperimentRow {
  id: string;
  subjectId: string;
  label: string;
  scans: ScanRow[];
  resources: ResourceRow[];
  /**
   * For a project archived in XNAT: the experiment's accession id there (XNAT_E…). Its scans are
   * then XNAT scan ids and its resources XNAT resource labels, fetched through lib/xnat.
   */
  xnat?: string;
}

/** What the stager needs to fetch a source item: from the local archive, or from the project's XNAT. */
export type SourceRef =
  | { kind: "scan"; scanId: string }
  | { kind: "resource"; resourceId: string }
  | { kind: "xnat-scan"; experiment: string; scan: string }
  | { kind: "xnat-resource"; experiment: string; scan?: string; resource: string };

const scanRef = (e: ExperimentRow, sc: ScanRow): SourceRef => (e.xnat ? { kind: "xnat-scan", experiment: e.xnat, scan: sc.id } : { kind: "scan", scanId: sc.id });
const resourceRef = (e: ExperimentRow, r: ResourceRow): SourceRef =>
  e.xnat ? { kind: "xnat-resource", experiment: e.xnat, ...(r.scanId ? { scan: r.scanId } : {}), resource: r.name } : { kind: "resource", resourceId: r.id };

export function scansOf(source: Extract<SourceDefinition, { from: "scans" }>, scans: ScanRow[]): ScanRow[] {
  const modalities = source.modality === undefined ? null : (Array.isArray(source.modality) ? source.modality : [source.modality]).map((m) => m.toUpperCase());
  const re = source.seriesDescription ? new RegExp(source.seriesDescription, "i") : null;
  const picked = scans
    .filter((s) => s.instanceCount > 0)
    .filter((s) => !modalities || modalities.includes((s.modality ?? "").toUpperCase()))
    .filter((s) => !re || re.test(s.seriesDescription ?? ""))
    .sort((a, b) => (a.seriesNumber ?? 1e9) - (b.seriesNumber ?? 1e9) || a.id.localeCompare(b.id));
  return source.max ? picked.slice(0, source.max) : picked;
}

/**
 * The items of every source over the experiments. An experiment missing a source (fewer scans
 * than `min`, none at all, or no such resource) contributes nothing to any source, with a note.
 */
export function selectSources(def: PipelineDefinition, experiments: ExperimentRow[]): { sources: Record<string, SourceItem[]>; notes: string[] } {
  const sources: Record<string, SourceItem[]> = Object.fromEntries(Object.keys(def.sources).map((k) => [k, [] as SourceItem[]]));
  const notes: string[] = [];
  for (const e of experiments) {
    const mine: Record<string, SourceItem[]> = {};
    let skip: string | null = null;
    for (const [id, s] of Object.entries(def.sources)) {
      if (s.from === "scans") {
        const scans = scansOf(s, e.scans);
        const min = s.min ?? 1;
        if (scans.length < min) {
          skip = `Experiment ${e.label} skipped: source "${id}" found ${scans.length} matching scan(s), ${min} needed.`;
          break;
        }
        mine[id] = scans.map((sc) => ({ key: [e.subjectId, e.id, sc.id], ref: scanRef(e, sc) }));
      } else {
        const rs = e.resources.filter((r) => r.name === s.resource && (s.on === "scan" ? r.scanId !== null : r.scanId === null));
        if (!rs.length) {
          skip = `Experiment ${e.label} skipped: source "${id}" needs resource ${s.resource} on the ${s.on}, which it does not have (run the pipeline that writes it first).`;
          break;
        }
        mine[id] = rs.map((r) => ({ key: s.on === "scan" ? [e.subjectId, e.id, r.scanId!] : [e.subjectId, e.id], ref: resourceRef(e, r) }));
      }
    }
    if (skip) {
      notes.push(skip);
      continue;
    }
    for (const [id, items] of Object.entries(mine)) sources[id]!.push(...items);
  }
  return { sources, notes };
}
