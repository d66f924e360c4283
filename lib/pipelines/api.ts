// Payloads of the pipeline API (tRPC procedures, the operator routes of `atrium run`/`atrium runs`):
// one zod schema each, shared by producer and consumer.
import { z } from "zod";
import { projectRef } from "@/lib/projects";
import { MAX_DEFINITION_BYTES } from "./document";

const id = z.string().min(1).max(64);

export const registerDefinitionInput = projectRef.extend({ text: z.string().min(1).max(MAX_DEFINITION_BYTES) });
export const pipelineRefInput = projectRef.extend({ pipelineRowId: id });
export const startRunInput = projectRef
  .extend({
    /** The pipeline's id (e.g. dicom-stats) or a registered version's row id. */
    pipeline: z.string().min(1).max(100),
    version: z.string().min(1).max(64).optional(),
    experimentIds: z.array(id).max(10_000).default([]),
    /** Every archived experiment of the project. */
    all: z.boolean().default(false),
    executor: z.enum(["local", "slurm"]).default("local"),
    priority: z.number().int().min(-100).max(100).default(0),
  })
  .refine((v) => v.all || v.experimentIds.length > 0, { message: "Choose experiments (experimentIds) or all of them (all: true).", path: ["experimentIds"] });
export const listRunsInput = projectRef.extend({ cursor: id.optional(), limit: z.number().int().min(1).max(200).default(50), experimentId: id.optional() });
export const runRefInput = projectRef.extend({ runId: id });
export const jobRefInput = projectRef.extend({ jobId: id });

export type StartRunPayload = z.infer<typeof startRunInput>;

/** What the job-log stream (pipeline.jobLog) sends: the log's tail, then each append and state change. */
export type LogEvent =
  | { kind: "tail"; text: string; truncated: boolean; offset: number; state: string }
  | { kind: "append"; text: string; offset: number }
  | { kind: "state"; state: string };

export const experimentResultsInput = projectRef.extend({ experimentId: id });
