// Planning a run: an analyzed pipeline and the samples its sources found become jobs, one per
// node × sample (fan-out), with list inputs gathering every upstream sample under the same
// subject/experiment/run (fan-in). Jobs list the jobs they wait for.
import { levelDepth, type Level, type Value } from "./schema";
import type { AnalyzedPipeline } from "./validate";

/** A sample's place: [subject, experiment, scan], as long as its level is deep. */
export type SampleKey = string[];
export const sampleKeyString = (k: SampleKey) => (k.length ? k.join("/") : "run");

export interface SourceItem {
  key: SampleKey;
  /** What the stager needs to fetch it (e.g. a scan id). */
  ref: unknown;
}

export type PlannedInput =
  | { kind: "constant"; value: Value }
  | { kind: "source"; source: string; items: SourceItem[]; list: boolean }
  | { kind: "upstream"; output: string; jobs: string[]; list: boolean };

export interface PlannedJob {
  key: string;
  node: string;
  level: Level;
  sample: SampleKey;
  inputs: Record<string, PlannedInput>;
  after: string[];
}

const truncate = (k: SampleKey, l: Level) => k.slice(0, levelDepth(l));
const isPrefix = (p: SampleKey, k: SampleKey) => p.every((x, i) => k[i] === x);

export function planRun(p: AnalyzedPipeline, sources: Record<string, SourceItem[]>): PlannedJob[] {
  const jobs: PlannedJob[] = [];
  const byNode = new Map<string, PlannedJob[]>();
  for (const nodeId of p.order) {
    const node = p.nodes[nodeId]!;
    // Each linked input as a stream of (key → what) at a level.
    type Stream = { level: Level; groups: Map<string, { key: SampleKey; items: SourceItem[]; jobs: PlannedJob[] }> };
    const streams = new Map<string, Stream>();
    for (const [inputId, l] of Object.entries(node.links)) {
      if (l.kind === "constant") continue;
      const level = l.collapse ?? l.level;
      const groups: Stream["groups"] = new Map();
      const add = (key: SampleKey, item?: SourceItem, job?: PlannedJob) => {
        const k = truncate(key, level);
        const s = sampleKeyString(k);
        const g = groups.get(s) ?? { key: k, items: [], jobs: [] };
        if (item) g.items.push(item);
        if (job) g.jobs.push(job);
        groups.set(s, g);
      };
      if (l.kind === "source") for (const item of sources[l.source] ?? []) add(item.key, item);
      else for (const j of byNode.get(l.node) ?? []) add(j.sample, undefined, j);
      streams.set(inputId, { level, groups });
    }
    // The node's samples: those of its finest inputs (matched sample-wise when several).
    let samples: SampleKey[] = [[]];
    const finest = [...streams.values()].filter((s) => levelDepth(s.level) === levelDepth(node.level));
    if (finest.length) {
      const [first, ...rest] = finest;
      samples = [...first!.groups.values()].map((g) => g.key).filter((k) => rest.every((s) => s.groups.has(sampleKeyString(k))));
    }
    const planned: PlannedJob[] = [];
    for (const sample of samples) {
      const inputs: Record<string, PlannedInput> = {};
      const after = new Set<string>();
      let complete = true;
      for (const [inputId, l] of Object.entries(node.links)) {
        if (l.kind === "constant") {
          inputs[inputId] = { kind: "constant", value: l.value };
          continue;
        }
        const s = streams.get(inputId)!;
        const g = [...s.groups.values()].find((x) => isPrefix(x.key, sample));
        if (!g) {
          complete = false;
          break;
        }
        const list = Boolean(l.collapse) || l.port.list;
        if (l.kind === "source") inputs[inputId] = { kind: "source", source: l.source, items: g.items, list };
        else {
          inputs[inputId] = { kind: "upstream", output: l.output, jobs: g.jobs.map((j) => j.key), list };
          g.jobs.forEach((j) => after.add(j.key));
        }
      }
      if (!complete) continue;
      planned.push({ key: `${nodeId}:${sampleKeyString(sample)}`, node: nodeId, level: node.level, sample, inputs, after: [...after] });
    }
    byNode.set(nodeId, planned);
    jobs.push(...planned);
  }
  return jobs;
}
