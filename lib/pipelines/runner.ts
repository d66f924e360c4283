// Running a planned pipeline on one executor, in process: each job waits for the jobs it depends
// on, stages its inputs (source items through `stage`, upstream files by hard link or copy), builds
// its command, runs it, finds its outputs and records sha256 of inputs and outputs (provenance).
// A failed job's dependents are skipped with the reason. The compute worker runs the same steps one
// job at a time from the queue; this runner serves the examples' tests and the benchmark.
import { createHash } from "node:crypto";
import { closeSync, createReadStream, fstatSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import path from "node:path";
import { buildCommand, type InputValues } from "./command";
import type { Executor, JobEndState } from "./executors/types";
import { discoverOutputs, type FoundOutput } from "./outputs";
import { sampleKeyString, type PlannedJob, type SourceItem } from "./plan";
import type { Scalar } from "./schema";
import type { AnalyzedPipeline } from "./validate";

export type JobState = JobEndState | "skipped";

export interface JobRecord {
  key: string;
  node: string;
  sample: string;
  state: JobState;
  command: string[];
  exitCode: number | null;
  reason: string | null;
  outputs: Record<string, FoundOutput>;
  inputHashes: Record<string, string>;
  outputHashes: Record<string, string>;
  logPath: string;
  wallMs: number;
  peakMemoryKb: number | null;
}

// Files up to this size are read and hashed in one synchronous read: a promise-based open, read
// and close cost ~0.3 ms of the event loop's CPU per file, far more than the read itself; larger
// files are streamed so that the loop is never held for long.
const SYNC_HASH_MAX = 1 << 20;

export async function sha256File(p: string, size?: number): Promise<string> {
  if ((size ?? statSync(p).size) <= SYNC_HASH_MAX) {
    const data = readFileSync(p);
    // It may have grown since it was measured: hashed whole all the same (the read saw all of it).
    return createHash("sha256").update(data).digest("hex");
  }
  const h = createHash("sha256");
  for await (const c of createReadStream(p)) h.update(c as Buffer);
  return h.digest("hex");
}

export async function sha256Path(p: string): Promise<string> {
  const st = statSync(p);
  if (!st.isDirectory()) return sha256File(p, st.size);
  const h = createHash("sha256");
  for (const e of readdirSync(p).sort()) h.update(`${e}\0${await sha256Path(path.join(p, e))}\n`);
  return h.digest("hex");
}

/** A hard link of `src` at `dest` (its directory made), or a copy where linking is not possible. */
export async function place(src: string, dest: string) {
  mkdirSync(path.dirname(dest), { recursive: true });
  try {
    linkSync(src, dest);
  } catch {
    await copyFile(src, dest);
  }
}

/** The last `bytes` of a file (a job's log), "" when there is none; one small synchronous read. */
export async function logTail(p: string, bytes = 64 * 1024): Promise<string> {
  let fd: number;
  try {
    fd = openSync(p, "r");
  } catch {
    return "";
  }
  try {
    const { size } = fstatSync(fd);
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    const n = readSync(fd, buf, 0, buf.length, start);
    return buf.toString("utf8", 0, n);
  } finally {
    closeSync(fd);
  }
}

export interface RunOptions {
  executor: Executor;
  /** The run's directory; each job gets <root>/<node>/<sample>/. */
  root: string;
  /** Puts a source item's files into `dest` (a directory for a series); returns the path to pass. */
  stage(source: string, item: SourceItem, dest: string): Promise<string>;
  env?: Record<string, string>;
}

export async function runPlanned(p: AnalyzedPipeline, jobs: PlannedJob[], opts: RunOptions): Promise<JobRecord[]> {
  const done = new Map<string, Promise<JobRecord>>();
  const runOne = async (job: PlannedJob): Promise<JobRecord> => {
    const ups = await Promise.all(job.after.map((k) => done.get(k)!));
    const tool = p.nodes[job.node]!.tool;
    const node = p.definition.nodes[job.node]!;
    const workDir = path.join(opts.root, job.node, sampleKeyString(job.sample).replace(/\//g, "_"));
    const rec: JobRecord = { key: job.key, node: job.node, sample: sampleKeyString(job.sample), state: "skipped", command: [], exitCode: null, reason: null, outputs: {}, inputHashes: {}, outputHashes: {}, logPath: path.join(workDir, "log.txt"), wallMs: 0, peakMemoryKb: null };
    const failedUp = ups.find((u) => u.state !== "succeeded");
    if (failedUp) {
      rec.reason = `Not run: upstream job ${failedUp.key} ${failedUp.state.replace("_", " ")}.`;
      return rec;
    }
    const values: InputValues = {};
    for (const [inputId, inp] of Object.entries(job.inputs)) {
      if (inp.kind === "constant") {
        values[inputId] = inp.value;
        continue;
      }
      const staged: (string | Scalar)[] = [];
      if (inp.kind === "source") {
        for (const [n, item] of inp.items.entries()) staged.push(await opts.stage(inp.source, item, path.join(workDir, "in", inputId, inp.list ? String(n) : "")));
      } else {
        for (const k of inp.jobs) {
          const up = ups.find((u) => u.key === k)!;
          const out = up.outputs[inp.output];
          if (!out) continue;
          if ("value" in out) staged.push(...(Array.isArray(out.value) ? out.value : [out.value]));
          else
            for (const f of out.files) {
              const dest = path.join(workDir, "in", inputId, inp.list ? `${staged.length}_${path.basename(f)}` : path.basename(f));
              await place(f, dest);
              staged.push(dest);
            }
        }
      }
      values[inputId] = inp.list ? staged : staged[0];
      for (const v of staged) if (typeof v === "string" && v.startsWith(workDir)) rec.inputHashes[path.relative(workDir, v)] = await sha256Path(v);
    }
    const res = { ...tool.resources, ...node.resources };
    const ctx = { outdir: path.join(workDir, "out"), workdir: workDir, cores: res.cores, memoryMb: res.memoryMb, sample: rec.sample.replace(/\//g, "_") };
    mkdirSync(ctx.outdir, { recursive: true });
    try {
      rec.command = buildCommand(tool, values, ctx);
    } catch (e) {
      rec.state = "failed";
      rec.reason = (e as Error).message;
      return rec;
    }
    const spec = { jobId: job.key, command: rec.command, workDir, logPath: rec.logPath, cores: res.cores, memoryMb: res.memoryMb, wallTimeSeconds: res.wallTimeSeconds, ...(opts.env ? { env: opts.env } : {}) };
    const t0 = Date.now();
    const submitted = await opts.executor.submit(spec);
    const outcome = await opts.executor.wait(submitted, spec);
    rec.wallMs = Date.now() - t0;
    rec.exitCode = outcome.exitCode;
    rec.peakMemoryKb = outcome.peakMemoryKb;
    rec.state = outcome.state;
    rec.reason = outcome.reason;
    if (outcome.state !== "succeeded") return rec;
    const fill = (s: string) => s.replace(/\{outdir\}/g, "out").replace(/\{sample\}/g, ctx.sample).replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, n: string) => String(values[n] ?? ""));
    try {
      rec.outputs = await discoverOutputs(tool, workDir, await logTail(rec.logPath), fill);
    } catch (e) {
      rec.state = "failed";
      rec.reason = (e as Error).message;
      return rec;
    }
    for (const [id, o] of Object.entries(rec.outputs)) if ("files" in o) for (const f of o.files) rec.outputHashes[`${id}:${path.relative(workDir, f)}`] = await sha256Path(f);
    return rec;
  };
  for (const j of jobs) done.set(j.key, runOne(j));
  return Promise.all(jobs.map((j) => done.get(j.key)!));
}

/**
 * The content address of a job's result: tool id and version, the command-line values that are not
 * staged files, and the sha256 of every staged input. Equal keys mean the outputs can be reused.
 */
export function reuseKey(toolId: string, toolVersion: string, params: Record<string, unknown>, inputHashes: Record<string, string>): string {
  const sorted = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  return createHash("sha256").update(JSON.stringify([toolId, toolVersion, sorted(params), sorted(inputHashes)])).digest("hex");
}
