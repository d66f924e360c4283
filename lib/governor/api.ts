// Inputs of the governor's procedures (tRPC, CLI): one zod schema each (issue #16).
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";

const id = z.string().min(1).max(64);
export const projectInput = z.object({ projectId: projectIdSchema });
export const importWorkflowInput = z.object({
  projectId: projectIdSchema,
  /** the workflow file's text (Study Governor v8, pre-6, or Atrium's format) */
  source: z.string().min(1, "The workflow file is empty.").max(1_000_000, "A workflow file is at most 1 MB."),
  /** start the project's archived experiments that are in no workflow yet at the new workflow's root */
  adopt: z.boolean().default(false),
});
export const boardInput = z.object({
  projectId: projectIdSchema,
  state: z.string().max(128).optional(),
  search: z.string().max(128).optional(),
  /** cards per state column */
  perState: z.number().int().min(1).max(200).default(25),
});
export const experimentInput = z.object({ projectId: projectIdSchema, experimentId: id });
export const setStateInput = z.object({
  projectId: projectIdSchema,
  experimentId: id,
  state: z.string().min(1).max(128),
  reason: z.string().trim().min(3, "Say why the state is forced (at least 3 characters).").max(2000),
});
export const retryInput = z.object({ projectId: projectIdSchema, executionId: id });
export const pauseInput = z.object({ projectId: projectIdSchema, experimentId: id, paused: z.boolean() });
export const exportInput = z.object({ projectId: projectIdSchema, format: z.enum(["csv", "json"]) });
export const expectedInput = z.object({
  projectId: projectIdSchema,
  search: z.string().max(128).optional(),
  status: z.enum(["complete", "incomplete", "pending", "late"]).optional(),
  limit: z.number().int().min(1).max(1000).default(200),
});
export const saveExpectedInput = z.object({
  projectId: projectIdSchema,
  /** the protocol's text (YAML or JSON, lib/governor/expected.ts) */
  source: z.string().min(1, "The protocol is empty.").max(200_000, "A protocol is at most 200 kB."),
});
