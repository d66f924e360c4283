// The PIM API v2 as fastr's reporting plugin (pimreporter.py) speaks it, framework-free: the run
// registration with its graph, the batches of job updates, and what a server makes of them
// (reference/fastr.md §6). One zod schema per payload; the routes under app/pim only call these.
import { z } from "zod";

const customData = z.record(z.string(), z.unknown());

const portSchema = z.looseObject({
  name: z.string().min(1).max(400),
  title: z.string().max(400).optional(),
  customData: customData.optional(),
});

export interface PimNode {
  name: string;
  title?: string;
  type: string;
  description?: string;
  children: PimNode[];
  inPorts: z.infer<typeof portSchema>[];
  outPorts: z.infer<typeof portSchema>[];
  customData?: Record<string, unknown>;
}

const nodeSchema: z.ZodType<PimNode> = z.lazy(() =>
  z.looseObject({
    name: z.string().min(1).max(400),
    title: z.string().max(400).optional(),
    type: z.string().min(1).max(100),
    description: z.string().max(10_000).optional(),
    children: z.array(nodeSchema).max(10_000).default([]),
    inPorts: z.array(portSchema).max(1_000).default([]),
    outPorts: z.array(portSchema).max(1_000).default([]),
    customData: customData.optional(),
  }),
) as z.ZodType<PimNode>;

const linkSchema = z.looseObject({
  name: z.string().max(400).optional(),
  title: z.string().max(400).optional(),
  fromPort: z.string().min(1).max(2_000),
  toPort: z.string().min(1).max(2_000),
  dataType: z.string().max(400).optional(),
  customData: customData.optional(),
});

const statusTypeSchema = z.looseObject({ title: z.string().min(1).max(100), color: z.string().max(50).optional(), description: z.string().max(1_000).optional() });

/** POST /api/runs/ — a run and its graph. */
export const pimRunSchema = z.looseObject({
  title: z.string().min(1, "title (the run id) is empty").max(400),
  name: z.string().min(1).max(400).optional(),
  user: z.string().max(200).optional(),
  assignedTo: z.array(z.unknown()).max(100).optional(),
  root: nodeSchema,
  links: z.array(linkSchema).max(100_000).default([]),
  description: z.string().max(10_000).optional(),
  customData: customData.optional(),
  statusTypes: z.array(statusTypeSchema).min(1, "statusTypes is empty: a run lists the job states it uses").max(50),
});
export type PimRun = z.infer<typeof pimRunSchema>;

/** One element of PUT /api/runs/{id}/jobs. `status` is absent on log records. */
export const pimJobUpdateSchema = z.looseObject({
  path: z.string().min(1, "path is empty").max(2_000),
  title: z.string().max(400).optional(),
  description: z.string().max(10_000).optional(),
  status: z.number().int().min(0).optional(),
  customData: customData.optional(),
});
export const pimJobBatchSchema = z.array(pimJobUpdateSchema).max(10_000, "at most 10,000 job updates per request");
export type PimJobUpdate = z.infer<typeof pimJobUpdateSchema>;

/** The statuses fastr's reporter uses, by index (its `statusTypes`). */
export const FASTR_STATUS = ["idle", "running", "success", "failed", "cancelled", "undefined"] as const;
const TERMINAL_TITLES = new Set(["success", "failed", "cancelled"]);

/** The run-level pseudo job: its status is the run's, its log records the run's log. */
export const MASTER_PATH = "root/master";

/** A node of the graph, flattened: its path (`root/<step>/<node>`, the prefix of its jobs' paths). */
export interface GraphNode {
  path: string;
  name: string;
  title: string;
  type: string;
  /** The group (NetworkStep, MacroNodeRun) it sits in, if any. */
  parent: string | null;
  inPorts: string[];
  outPorts: string[];
}
export interface GraphLink {
  from: string;
  to: string;
  dataType: string | null;
}
export interface RunGraph {
  nodes: GraphNode[];
  links: GraphLink[];
}

/** Flattens the registration's node tree into paths as the reporter builds them (root/…/node). */
export function flattenGraph(run: PimRun): RunGraph {
  const nodes: GraphNode[] = [];
  const walk = (node: PimNode, scope: string, parent: string | null) => {
    for (const child of node.children) {
      const path = `${scope}/${child.name}`;
      nodes.push({
        path,
        name: child.name,
        title: child.title || child.name,
        type: child.type,
        parent,
        inPorts: child.inPorts.map((p) => p.name),
        outPorts: child.outPorts.map((p) => p.name),
      });
      walk(child, path, path);
    }
  };
  walk(run.root, "root", null);
  return { nodes, links: run.links.map((l) => ({ from: l.fromPort, to: l.toPort, dataType: l.dataType ?? null })) };
}

/** Whether a node carries jobs (a step or a macro only groups other nodes). */
export function isJobNode(node: GraphNode): boolean {
  return node.type !== "NetworkStep" && node.type !== "MacroNodeRun";
}

/** The node a job path belongs to: the longest node path that prefixes it; null when none does. */
export function nodeOfJob(graph: RunGraph, jobPath: string): string | null {
  let best: string | null = null;
  for (const n of graph.nodes) {
    if (jobPath.startsWith(`${n.path}/`) && (best === null || n.path.length > best.length)) best = n.path;
  }
  return best;
}

export type PimProblem = { index: number; path?: string; message: string };

/** Checks a batch against the run before anything is stored: one bad update refuses the whole batch. */
export function checkBatch(graph: RunGraph, statusCount: number, batch: PimJobUpdate[]): PimProblem[] {
  const problems: PimProblem[] = [];
  batch.forEach((u, index) => {
    if (u.status !== undefined && u.status >= statusCount) {
      problems.push({ index, path: u.path, message: `status ${u.status} is not one of the run's ${statusCount} statusTypes (0–${statusCount - 1})` });
    }
    if (u.path !== MASTER_PATH && nodeOfJob(graph, u.path) === null) {
      problems.push({ index, path: u.path, message: `no node of the registered graph is a prefix of this job path (expected root/<node>/<job id>)` });
    }
  });
  return problems;
}

/** What is stored for one job (or for root/master). */
export interface JobRecord {
  status: number | null;
  customData: Record<string, unknown>;
  /** Log records by their UTC timestamp key, as the reporter sends them in customData.__log__. */
  log: Record<string, unknown>;
  /** When the job first reached a running or a terminal status (ms since the epoch). */
  startedAt: number | null;
  finishedAt: number | null;
}

/** Log records kept per job; the oldest beyond this are dropped (their count is kept). */
export const MAX_LOG_RECORDS = 5_000;

export interface MergeOutcome {
  record: JobRecord;
  /** True when the update tried to move a finished job back to idle or running (kept finished). */
  regressed: boolean;
  droppedLogRecords: number;
}

/**
 * Applies one update as a PIM server would: the latest status wins, except that a job in a
 * terminal state (success, failed, cancelled) never goes back to idle or running — a late,
 * re-sent or out-of-order update cannot un-finish it; customData is merged shallowly; log
 * records (customData.__log__) accumulate.
 */
export function mergeUpdate(previous: JobRecord | null, update: PimJobUpdate, statusTitles: readonly string[], now: number): MergeOutcome {
  const record: JobRecord = previous
    ? { ...previous, customData: { ...previous.customData }, log: { ...previous.log } }
    : { status: null, customData: {}, log: {}, startedAt: null, finishedAt: null };
  const { __log__: logPart, ...rest } = update.customData ?? {};
  Object.assign(record.customData, rest);
  let dropped = 0;
  if (logPart && typeof logPart === "object" && !Array.isArray(logPart)) {
    Object.assign(record.log, logPart as Record<string, unknown>);
    const keys = Object.keys(record.log);
    if (keys.length > MAX_LOG_RECORDS) {
      keys.sort();
      dropped = keys.length - MAX_LOG_RECORDS;
      for (const k of keys.slice(0, dropped)) delete record.log[k];
    }
  }
  let regressed = false;
  if (update.status !== undefined) {
    const wasTerminal = record.status !== null && TERMINAL_TITLES.has(statusTitles[record.status] ?? "");
    const next = statusTitles[update.status] ?? "undefined";
    if (wasTerminal && !TERMINAL_TITLES.has(next)) regressed = true;
    else {
      record.status = update.status;
      if (next === "running" && record.startedAt === null) record.startedAt = now;
      if (TERMINAL_TITLES.has(next)) {
        record.finishedAt = now;
        if (record.startedAt === null) record.startedAt = now;
      }
    }
  }
  return { record, regressed, droppedLogRecords: dropped };
}

export type RunState = "registered" | "running" | "success" | "failed" | "cancelled";

/** The run's state from root/master's status (1 running, 2 done, 3 failed), as the reporter sets it. */
export function runStateOf(masterStatus: number | null, statusTitles: readonly string[]): RunState {
  if (masterStatus === null) return "registered";
  const t = statusTitles[masterStatus];
  if (t === "running") return "running";
  if (t === "success") return "success";
  if (t === "failed") return "failed";
  if (t === "cancelled") return "cancelled";
  return "registered";
}

/** A zod error as one line a fastr operator can act on: where in the payload, and what is wrong. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : "(body)"}: ${i.message}`)
    .join("; ");
}
