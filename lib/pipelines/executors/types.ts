// The one interface every executor implements (local child processes, SLURM). The compute worker
// stages a job's inputs into `workDir`, builds its command line from the tool definition, and hands
// the result to an executor; the executor runs it and says how it ended. Every executor writes the
// job's stdout and stderr, interleaved as they come, to `logPath`, so a log can be read (and
// followed) while the job runs, whatever runs it.

export type ExecutorName = "local" | "slurm";

export type JobSpec = {
  /** Atrium's job id; executors use it to name what they submit (e.g. the SLURM job name). */
  jobId: string;
  /** argv: the program and its arguments, already resolved from the tool's command template. */
  command: string[];
  /** A directory owned by this job: inputs are staged here, outputs are looked for here. */
  workDir: string;
  /** Where stdout and stderr go; created or truncated by the executor. */
  logPath: string;
  cores: number;
  memoryMb: number;
  wallTimeSeconds: number;
  env?: Record<string, string>;
};

/** What a submitted job is known by to its executor: a pid for local, a SLURM job id for slurm. */
export type SubmittedJob = { executor: ExecutorName; externalId: string; host: string };

export type JobEndState = "succeeded" | "failed" | "timed_out" | "cancelled" | "out_of_memory";

export type JobOutcome = {
  state: JobEndState;
  exitCode: number | null;
  startedAt: Date | null;
  endedAt: Date;
  /** Where it ran. */
  host: string;
  /** Peak resident memory in KiB, where the executor can tell (SLURM's MaxRSS, /proc for local). */
  peakMemoryKb: number | null;
  /** One line a person can act on, for every state but "succeeded". */
  reason: string | null;
};

export type ExecutorCheck = { ok: true; detail: string } | { ok: false; reason: string };

export interface Executor {
  readonly name: ExecutorName;
  /** Is this executor usable here? For SLURM: the commands exist and the controller answers. The
   *  reason says how to fix it in one line (e.g. how to point Atrium at a cluster). */
  check(): Promise<ExecutorCheck>;
  /** Start the job; resolves once it is submitted (not when it ends). */
  submit(spec: JobSpec): Promise<SubmittedJob>;
  /** Resolves when the job has ended. Must work for a job submitted by an earlier process (a worker
   *  restarted after kill -9 re-attaches instead of submitting again), as far as the executor
   *  allows: SLURM can; a local child process dies with the worker that ran it. */
  wait(job: SubmittedJob, spec: JobSpec, signal?: AbortSignal): Promise<JobOutcome>;
  /** Stop the job and everything it started (scancel; kill of the process group). Idempotent. */
  cancel(job: SubmittedJob): Promise<void>;
}
