// Inputs of the de-identification preview (a setting tried on one sample file), shared by the
// tRPC procedure and the portal's form.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import { deidProfileSchema, deidScriptSchema } from "./settings";

/** The largest uploaded sample the preview accepts (sent inline, base64; read in memory, never stored). */
export const MAX_PREVIEW_SAMPLE_BYTES = 32 * 1024 * 1024;

export const previewDeidInput = z
  .object({
    projectId: projectIdSchema,
    /** The setting to try; neither: the project's current setting. */
    deidProfile: deidProfileSchema.optional(),
    deidScript: deidScriptSchema.optional(),
    /** A staged instance of the project … */
    instanceId: z.string().min(1).max(64).optional(),
    /** … or an uploaded file, base64. */
    sampleBase64: z
      .string()
      .min(1)
      .max(Math.ceil(MAX_PREVIEW_SAMPLE_BYTES / 3) * 4 + 4, `The sample is larger than ${MAX_PREVIEW_SAMPLE_BYTES / 1024 / 1024} MB; choose a smaller file of the same kind.`)
      .optional(),
  })
  .refine((v) => (v.instanceId ? 1 : 0) + (v.sampleBase64 ? 1 : 0) === 1, {
    message: "Choose one sample: an instance of the project, or a file to upload.",
    path: ["instanceId"],
  });
export type PreviewDeidInput = z.infer<typeof previewDeidInput>;

export const previewSamplesInput = z.object({ projectId: projectIdSchema });

/** A site admin's decision on a request to keep what the de-identification floor removes. */
export const decideApprovalInput = z.object({
  approvalId: z.string().min(1).max(64),
  approve: z.boolean(),
  /** Why (e.g. the ethics approval); recorded in the audit logs. No patient data. */
  note: z.string().trim().max(1000, "A note is at most 1000 characters.").optional(),
});
