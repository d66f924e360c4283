// Inputs of the intake settings, shared by the tRPC procedures and the portal's forms.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import { aeTitleSchema, calledAeTitleSchema } from "./ae";
import { REASON_CODES } from "./rules";
import { parseProfileSpec } from "@/lib/dicom/profile";
import { parseCtpScript } from "@/lib/dicom/ctp/script";
import { ctpScriptPatternProblems } from "@/lib/dicom/ctp/patterns";
import { selectionSchema } from "@/lib/portal/paging";

/** A project's intake settings before an owner changes them (the same as prisma/schema/intake.prisma's defaults). */
export { INTAKE_DEFAULTS } from "./defaults";

const ipAddress = z.union([z.ipv4(), z.ipv6()], { error: "Enter an IPv4 or IPv6 address, e.g. 10.1.2.3." });

export const addAeRouteInput = z.object({
  projectId: projectIdSchema,
  aeTitle: calledAeTitleSchema,
  allowedCallingAes: z.array(aeTitleSchema).max(100).default([]),
  allowedAddresses: z.array(ipAddress).max(100).default([]),
});

export const removeAeRouteInput = z.object({ projectId: projectIdSchema, aeTitle: aeTitleSchema });

/** A PS3.15 profile spec: "basic" plus options, e.g. "basic+retainUIDs+cleanDescriptors". */
export const deidProfileSchema = z
  .string()
  .trim()
  .min(1, 'Choose a profile, e.g. "basic".')
  .max(500)
  .superRefine((s, ctx) => {
    let options: string[];
    try {
      options = parseProfileSpec(s);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: `The profile is not valid: ${(e as Error).message}.` });
      return;
    }
    // PS3.15 defines the two longitudinal options as alternatives: dates kept as they are, or shifted.
    if (options.includes("retainLongitudinalFullDates") && options.includes("retainLongitudinalModifiedDates")) {
      ctx.addIssue({
        code: "custom",
        message:
          "Choose one of the two longitudinal options, not both: Retain Longitudinal Full Dates keeps dates as they are; Retain Longitudinal Modified Dates shifts them consistently per patient.",
      });
    }
  });

/** A CTP anonymizer script (XML or properties); null removes it (the profile applies again). */
export const deidScriptSchema = z
  .string()
  .max(1_000_000, "A script is at most 1 MB.")
  .superRefine((s, ctx) => {
    if (!s.trim()) {
      ctx.addIssue({ code: "custom", message: "The script is empty. Paste a CTP anonymizer script, or remove the script to use the profile." });
      return;
    }
    let script: ReturnType<typeof parseCtpScript>;
    try {
      script = parseCtpScript(s);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: `The CTP script cannot be read: ${(e as Error).message}. Check that it is a DicomAnonymizer script (XML or properties).` });
      return;
    }
    // Its regular expressions run on RE2 (linear time); one RE2 cannot compile is refused here.
    for (const problem of ctpScriptPatternProblems(script)) ctx.addIssue({ code: "custom", message: `The CTP script cannot be used: ${problem}.` });
  })
  .nullable();

export const updateIntakeSettingsInput = z.object({
  projectId: projectIdSchema,
  stableAfterSeconds: z.number().int().min(5, "At least 5 seconds.").max(86_400, "At most a day (86400 s).").optional(),
  deidProfile: deidProfileSchema.optional(),
  deidScript: deidScriptSchema.optional(),
});

export const intakeChannels = ["cstore", "stow", "webhook", "upload"] as const;

/** Filters of a quarantine list. */
export const quarantineFilter = z.object({
  reasonCode: z.enum([...REASON_CODES, "unknown"]).optional(),
  channel: z.enum(intakeChannels).optional(),
  /** Received at or after. */
  from: z.date().optional(),
  /** Received before. */
  to: z.date().optional(),
});
export type QuarantineFilter = z.infer<typeof quarantineFilter>;

/** Order of a quarantine list: newest or oldest first, or the largest files first. */
export const quarantineSorts = ["newest", "oldest", "largest"] as const;
export type QuarantineSort = (typeof quarantineSorts)[number];

export const quarantineListInput = quarantineFilter.extend({
  projectId: projectIdSchema,
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).default(50),
  sort: z.enum(quarantineSorts).default("newest"),
});

/** Rows of a quarantine picked for a bulk action: ids across pages, or every row matching the filters. */
export const quarantineSelection = selectionSchema(quarantineFilter);
export type QuarantineSelection = z.infer<typeof quarantineSelection>;

/**
 * One call of a bulk action on a project's quarantine: acts on at most BULK_CHUNK rows of the
 * selection and says how many remain; the portal repeats it and shows the progress.
 */
export const bulkQuarantineInput = z
  .object({
    projectId: projectIdSchema,
    action: z.enum(["retry", "route", "delete"]),
    /** For "route": the project (one the caller owns) to move the instances to. */
    targetProjectId: projectIdSchema.optional(),
    selection: quarantineSelection,
  })
  .superRefine((v, ctx) => {
    if (v.action === "route" && !v.targetProjectId) ctx.addIssue({ code: "custom", path: ["targetProjectId"], message: "Choose the project to route the instances to." });
    if (v.action === "route" && v.targetProjectId === v.projectId) ctx.addIssue({ code: "custom", path: ["targetProjectId"], message: "The instances are already in this project: use Retry to send them through de-identification again." });
  });
export type BulkQuarantineInput = z.infer<typeof bulkQuarantineInput>;

export const unroutedListInput = quarantineFilter.extend({
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).default(50),
  sort: z.enum(quarantineSorts).default("newest"),
});

export const routeToProjectInput = z.object({
  projectId: projectIdSchema,
  instanceId: z.string().min(1).max(64),
  targetProjectId: projectIdSchema,
});

export const unroutedInstanceInput = z.object({ instanceId: z.string().min(1).max(64) });
export const routeUnroutedInput = z.object({ instanceId: z.string().min(1).max(64), targetProjectId: projectIdSchema });

export const quarantinedInstanceInput = z.object({ projectId: projectIdSchema, instanceId: z.string().min(1).max(64) });
