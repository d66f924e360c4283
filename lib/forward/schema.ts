// Inputs of the forwarding procedures (one schema each, shared by the portal's forms, the API and
// the worker): a destination is a DICOM node (C-STORE) or a DICOMweb server (STOW-RS).
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import { ownerUrlSchema } from "@/lib/outbound/url";
import { checkRule } from "@/lib/intake/rules/language";

export const FORWARD_KINDS = ["dicom", "stow"] as const;
export const FORWARD_TRIGGERS = ["archived", "stable"] as const;
export const FORWARD_AUTH = ["none", "bearer", "basic"] as const;

/** An empty filter forwards every instance; otherwise a routing-rule expression (Intake tab). */
export const forwardFilterSchema = z
  .string()
  .trim()
  .max(4_000, "A filter is at most 4000 characters.")
  .superRefine((s, ctx) => {
    if (!s) return;
    const err = checkRule(s);
    if (err) ctx.addIssue({ code: "custom", message: `Filter: ${err.message} Write it as a routing rule, e.g. Modality == "MR".` });
  });

const aeTitle = (what: string) =>
  z
    .string()
    .trim()
    .min(1, `Enter the ${what} AE title.`)
    .max(16, `An AE title is at most 16 characters (the ${what} one is longer).`)
    .regex(/^[\x20-\x5b\x5d-\x7e]+$/, `The ${what} AE title may hold printable ASCII characters except a backslash.`);

const host = z
  .string()
  .trim()
  .min(1, "Enter the receiver's host name or IP address.")
  .max(253, "A host name is at most 253 characters.")
  .regex(/^[A-Za-z0-9.:\-[\]]+$/, "Enter a host name or IP address only (no scheme, port or path), e.g. pacs.example.org.");

const common = {
  name: z.string().trim().min(1, "Give the destination a name, e.g. Research PACS.").max(100, "A name is at most 100 characters."),
  enabled: z.boolean().default(true),
  trigger: z.enum(FORWARD_TRIGGERS).default("archived"),
  filter: forwardFilterSchema.default(""),
};

export const dicomDestinationFields = z.object({
  kind: z.literal("dicom"),
  ...common,
  host,
  port: z.number({ error: "Enter the receiver's port (1–65535)." }).int().min(1, "A port is 1–65535.").max(65535, "A port is 1–65535."),
  calledAe: aeTitle("receiver's (called)"),
  callingAe: aeTitle("calling (Atrium's)").default("ATRIUM"),
  associations: z.number().int().min(1, "At least one association.").max(8, "At most 8 parallel associations.").default(1),
});

export const stowDestinationFields = z
  .object({
    kind: z.literal("stow"),
    ...common,
    stowUrl: ownerUrlSchema({
      invalid: "Enter the DICOMweb root URL, e.g. https://pacs.example.org/dicom-web.",
      credentials: "Put no user or password in the URL: use the credential fields.",
    }),
    authKind: z.enum(FORWARD_AUTH).default("none"),
    authUser: z.string().trim().max(255).optional(),
    /** Bearer token or basic password; omitted: keep the stored one (same URL, kind and user only). */
    secret: z.string().min(1).max(4000).optional(),
  })
  .superRefine((d, ctx) => {
    if (d.authKind === "basic" && !d.authUser) ctx.addIssue({ code: "custom", path: ["authUser"], message: "Enter the user name for basic authentication." });
  });

export const destinationFields = z.discriminatedUnion("kind", [dicomDestinationFields, stowDestinationFields]);
export type DestinationFields = z.infer<typeof destinationFields>;

const destinationId = z.string().min(1).max(64);

export const createDestinationInput = z.object({
  projectId: projectIdSchema,
  destination: destinationFields,
  /** Also forward the studies the project already holds (archived, or stable with trigger "stable"). */
  backfill: z.boolean().default(false),
});
export const updateDestinationInput = z.object({ projectId: projectIdSchema, destinationId, destination: destinationFields });
export const destinationRefInput = z.object({ projectId: projectIdSchema, destinationId });
export const setDestinationEnabledInput = z.object({ projectId: projectIdSchema, destinationId, enabled: z.boolean() });
/** Test a saved destination, or the form's values before saving them. */
export const testDestinationInput = z.object({ projectId: projectIdSchema, destinationId: destinationId.optional(), destination: destinationFields.optional() });
export const forwardStatusInput = z.object({ projectId: projectIdSchema, limit: z.number().int().min(1).max(500).default(50) });
export const retryForwardInput = z.object({ projectId: projectIdSchema, forwardId: z.string().min(1).max(64) });
export const backfillInput = destinationRefInput;
