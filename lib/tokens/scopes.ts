// Token scopes, free of Node APIs so that the portal's browser code can import them too.
import { z } from "zod";
import type { RequiredLevel } from "@/lib/access";

export const TOKEN_SCOPES = ["stow", "read", "report", "workflow"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];
export const tokenScopeSchema = z.enum(TOKEN_SCOPES, {
  error: 'A scope is "stow" (send DICOM), "read" (DICOMweb read), "report" (fastr runs reporting to /pim) or "workflow" (the Study Governor API: experiments\' states and callbacks).',
});

/** The project access level a token acts at for each scope: stow and report write (member), read reads (collaborator). */
export const SCOPE_LEVEL: Record<TokenScope, Exclude<RequiredLevel, "listed" | "owner">> = {
  stow: "member",
  read: "collaborator",
  report: "member",
  /** the workflow API (Study Governor /api/v2): read experiments, set states, resolve callbacks */
  workflow: "member",
};

export const SCOPE_LABEL: Record<TokenScope, string> = {
  stow: "Send DICOM (STOW-RS)",
  read: "Read (DICOMweb)",
  report: "Report pipeline runs (fastr's PIM reporter)",
  workflow: "Workflow (Study Governor API)",
};
