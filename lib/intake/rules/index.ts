// Routing rules: the expression language (language.ts), header reading (header.ts), and the
// inputs of the procedures that manage them, shared by the tRPC router and the portal's forms.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import { checkRule } from "./language";

export * from "./language";

/** Machine codes of quarantine reasons, for filtering (the reason text says it for people). */
export const REASON_CODES = [
  "no_route", // no project accepts the instance (site AE title, no rule matched; or the route went away)
  "rule_mismatch", // bound to a project whose routing rules did not match
  "not_dicom",
  "malformed",
  "unsupported",
  "too_large",
  "missing_uid",
  "store_error",
  "deid_failed", // de-identification failed unexpectedly (after its retries)
  "deid_rejected", // the de-identification profile or script quarantined it (lookup miss, burned-in annotation, …)
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

/** Maps a de-identification quarantine code (lib/dicom/deid) onto a reason code. */
export function reasonCodeForDeid(code: string): ReasonCode {
  return (["not_dicom", "malformed", "unsupported", "too_large", "store_error", "missing_uid"] as const).find((c) => c === code) ?? "deid_rejected";
}

export const ruleExpressionSchema = z
  .string()
  .trim()
  .min(1, 'Write a condition, e.g. Modality == "MR".')
  .max(4_000, "A rule is at most 4000 characters.")
  .superRefine((s, ctx) => {
    const err = checkRule(s);
    if (err) ctx.addIssue({ code: "custom", message: err.message });
  });

const ruleId = z.string().min(1).max(64);

export const createRuleInput = z.object({
  projectId: projectIdSchema,
  expression: ruleExpressionSchema,
  description: z.string().trim().max(500, "A description is at most 500 characters.").default(""),
  enabled: z.boolean().default(true),
  /**
   * The caller knows that this, the project's first enabled rule, makes the project accept only
   * matching instances. Without it, such a create (or enable) is refused with an explanation
   * (PRECONDITION_FAILED), and the portal asks before sending it again.
   */
  acceptOnlyMatching: z.boolean().optional(),
});

/** Why a first enabled rule needs the caller's acknowledgement (the text the portal shows). */
export const FIRST_RULE_MESSAGE =
  "This would be the project's first enabled routing rule. From then on, only instances that match an enabled rule are accepted; everything else sent to this project (its AE titles, tokens, webhooks and uploads) waits in quarantine, where owners can retry or route it. Confirm to go ahead, or add the rule disabled.";

export const updateRuleInput = z.object({
  projectId: projectIdSchema,
  ruleId,
  expression: ruleExpressionSchema.optional(),
  description: z.string().trim().max(500, "A description is at most 500 characters.").optional(),
  enabled: z.boolean().optional(),
  /** As in createRuleInput: needed when enabling the project's first enabled rule. */
  acceptOnlyMatching: z.boolean().optional(),
});

export const ruleRefInput = z.object({ projectId: projectIdSchema, ruleId });

export const reorderRulesInput = z.object({
  projectId: projectIdSchema,
  /** Every rule id of the project, in the new order. */
  ruleIds: z.array(ruleId).min(1).max(500),
});

/** The largest sample file the "test this rule" box accepts (it is sent inline, base64). */
export const MAX_SAMPLE_BYTES = 8 * 1024 * 1024;

export const testRuleInput = z.object({
  projectId: projectIdSchema,
  expression: z.string().max(4_000, "A rule is at most 4000 characters."),
  /** The sample file, base64. Only its header is read; it is neither stored nor logged. */
  sampleBase64: z
    .string()
    .min(1, "Choose a sample DICOM file.")
    .max(Math.ceil(MAX_SAMPLE_BYTES / 3) * 4 + 4, `The sample is larger than ${MAX_SAMPLE_BYTES / 1024 / 1024} MB; choose a smaller file of the same kind.`),
});
