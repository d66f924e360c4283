// Token scopes, free of Node APIs so that the portal's browser code can import them too.
import { z } from "zod";
import type { RequiredLevel } from "@/lib/access";

export const TOKEN_SCOPES = ["stow", "read"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];
export const tokenScopeSchema = z.enum(TOKEN_SCOPES, { error: 'A scope is "stow" (send DICOM) or "read" (DICOMweb read).' });

/** The project access level a token acts at for each scope: stow writes (member), read reads (collaborator). */
export const SCOPE_LEVEL: Record<TokenScope, Exclude<RequiredLevel, "listed" | "owner">> = {
  stow: "member",
  read: "collaborator",
};

export const SCOPE_LABEL: Record<TokenScope, string> = {
  stow: "Send DICOM (STOW-RS)",
  read: "Read (DICOMweb)",
};
