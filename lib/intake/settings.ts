// Inputs of the intake settings, shared by the tRPC procedures and the portal's forms.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import { aeTitleSchema } from "./ae";
import { REASON_CODES } from "./rules";
import { parseProfileSpec } from "@/lib/dicom/profile";
import { parseCtpScript } from "@/lib/dicom/ctp/script";

/** A project's intake settings before an owner changes them (the same as prisma/schema/intake.prisma's defaults). */
export const INTAKE_DEFAULTS = { stableAfterSeconds: 60, deidProfile: "basic", deidScript: null as string | null };

const ipAddress = z.union([z.ipv4(), z.ipv6()], { error: "Enter an IPv4 or IPv6 address, e.g. 10.1.2.3." });

export const addAeRouteInput = z.object({
  projectId: projectIdSchema,
  aeTitle: aeTitleSchema,
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
    try {
      parseProfileSpec(s);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: `The profile is not valid: ${(e as Error).message}.` });
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
    try {
      parseCtpScript(s);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: `The CTP script cannot be read: ${(e as Error).message}. Check that it is a DicomAnonymizer script (XML or properties).` });
    }
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

export const quarantineListInput = quarantineFilter.extend({
  projectId: projectIdSchema,
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});

export const unroutedListInput = quarantineFilter.extend({
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});

export const routeToProjectInput = z.object({
  projectId: projectIdSchema,
  instanceId: z.string().min(1).max(64),
  targetProjectId: projectIdSchema,
});

export const unroutedInstanceInput = z.object({ instanceId: z.string().min(1).max(64) });
export const routeUnroutedInput = z.object({ instanceId: z.string().min(1).max(64), targetProjectId: projectIdSchema });

export const quarantinedInstanceInput = z.object({ projectId: projectIdSchema, instanceId: z.string().min(1).max(64) });
