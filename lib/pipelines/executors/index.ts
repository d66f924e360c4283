// Executors by name. Each executor module registers a factory here: local below; the SLURM
// executor (slurm.ts) adds itself with one line in EXECUTORS.
import type { Executor, ExecutorName } from "./types";
import { createLocalExecutor } from "./local";
import { slurmExecutor } from "./slurm";

export type { Executor, ExecutorName } from "./types";

const EXECUTORS: Partial<Record<ExecutorName, () => Executor>> = {
  local: () => createLocalExecutor({ concurrency: Number(process.env.ATRIUM_COMPUTE_LOCAL_CONCURRENCY) || 2 }),
  slurm: () => slurmExecutor(),
};

const instances = new Map<ExecutorName, Executor>();

export class UnknownExecutorError extends Error {
  override readonly name = "UnknownExecutorError";
}

export function executorNames(): ExecutorName[] {
  return Object.keys(EXECUTORS) as ExecutorName[];
}

/** The executor of this name (one per process), or a clear error listing the ones there are. */
export function getExecutor(name: string): Executor {
  const factory = EXECUTORS[name as ExecutorName];
  if (!factory) throw new UnknownExecutorError(`Unknown executor "${name}": use one of ${executorNames().join(", ")}.`);
  let e = instances.get(name as ExecutorName);
  if (!e) instances.set(name as ExecutorName, (e = factory()));
  return e;
}
