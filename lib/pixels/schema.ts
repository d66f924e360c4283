// Payloads of the pixel review procedures (server/routers/pixels.ts), one schema each.
import { z } from "zod";
import { projectRef } from "@/lib/projects";
import { conditionSchema, regionsSchema } from "@/lib/dicom/pixel-rules";

export const HOLD_CODES = ["burned_in_annotation", "pixel_blanking_unsupported", "clean_pixel_data"] as const;
export const holdCodeSchema = z.enum(HOLD_CODES);

const id = z.string().min(1).max(100);

export const heldListInput = projectRef.extend({
  reasonCode: holdCodeSchema.optional(),
  subject: z.string().max(200).optional(),
  limit: z.number().int().min(1).max(500).default(100),
});
export const heldInstanceInput = projectRef.extend({ instanceId: id });
export const releaseInput = heldInstanceInput.extend({
  regions: regionsSchema,
  saveRule: z
    .object({
      conditions: z.array(conditionSchema).max(6),
      description: z.string().max(200).optional(),
    })
    .optional(),
});
export const createRuleInput = projectRef.extend({
  signature: z.string().max(2000),
  regions: regionsSchema,
  description: z.string().max(200).optional(),
});
export const updateRuleInput = projectRef.extend({
  ruleId: id,
  signature: z.string().max(2000).optional(),
  regions: regionsSchema.optional(),
  description: z.string().max(200).optional(),
  enabled: z.boolean().optional(),
});
export const ruleRefInput = projectRef.extend({ ruleId: id });
