// Inputs of the task API (tRPC and REST share them).
import { z } from "zod";
import { DistributionMode, PoolEntry } from "./group";
import { Submission } from "./answers";

const id = z.string().min(1).max(100);
export const taskRef = z.object({ taskId: id });
export const groupRef = z.object({ groupId: id });
export const saveTemplateInput = z.object({ name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "a template name is 1–64 letters, digits, _ or -"), source: z.string().min(1).max(200_000) });
export const createGroupInput = z.object({
  label: z.string().trim().min(1).max(200),
  templateId: id,
  experimentIds: z.array(id).max(100_000).optional(),
  query: z.object({ modality: z.string().max(16).optional(), labelContains: z.string().max(64).optional() }).optional(),
  readersPerCase: z.number().int().min(1).max(10).default(1),
  distribution: DistributionMode.default("pool"),
  pool: z.array(PoolEntry).max(1000).default([]),
  dueAt: z.coerce.date().optional(),
  lockMinutes: z.number().int().min(1).max(24 * 60).optional(),
  disagreement: z.record(z.string(), z.unknown()).optional(),
  /** Submitted reads wait for an owner to accept them (done) or return them to their reader. */
  review: z.boolean().default(false),
});
export const reviewInput = taskRef.extend({
  decision: z.enum(["accepted", "returned"]),
  comment: z.string().trim().max(2000).default(""),
}).refine((r) => r.decision === "accepted" || r.comment.length >= 3, { message: "Say what the reader should change (at least 3 characters).", path: ["comment"] });
export const draftInput = taskRef.extend(Submission.shape);
export const skipInput = taskRef.extend({ reason: z.string().trim().min(1, "Say why the task is skipped.").max(1000) });
