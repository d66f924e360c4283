// Inputs of the intake settings, shared by the tRPC procedures and the portal's forms.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import { aeTitleSchema } from "./ae";

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

export const updateIntakeSettingsInput = z.object({
  projectId: projectIdSchema,
  stableAfterSeconds: z.number().int().min(5, "At least 5 seconds.").max(86_400, "At most a day (86400 s).").optional(),
});

export const quarantineListInput = z.object({
  projectId: projectIdSchema,
  cursor: z.string().optional(),
  limit: z.number().int().min(1).max(200).default(50),
});

export const quarantinedInstanceInput = z.object({ projectId: projectIdSchema, instanceId: z.string().min(1).max(64) });
