// AE titles and the association policy of the C-STORE receiver: which project a called AE title
// routes to, and who may call it. Pure; the receiver asks server/intake for the route.
import { z } from "zod";

/** PS3.5 AE VR: up to 16 characters, no backslash or control characters; leading/trailing spaces are not significant. */
export const aeTitleSchema = z
  .string()
  .trim()
  .min(1, "An AE title needs at least one character.")
  .max(16, "An AE title is at most 16 characters (DICOM PS3.5).")
  .regex(/^[\x20-\x5b\x5d-\x7e]+$/, "An AE title may hold printable ASCII except the backslash.")
  .transform((s) => s.toUpperCase());

export function normalizeAe(ae: string | null | undefined): string {
  return (ae ?? "").trim().toUpperCase();
}

export interface AeRouteRule {
  projectId: string;
  allowedCallingAes: string[];
  allowedAddresses: string[];
}

export type AssociationDecision =
  | { accept: true; projectId: string }
  | { accept: false; reason: "called-ae-not-recognized" | "calling-ae-not-recognized" | "calling-address-not-allowed"; message: string };

/** IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) compare as their IPv4 form. */
export function normalizeAddress(address: string | null | undefined): string {
  const a = (address ?? "").trim();
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

export function decideAssociation(
  route: AeRouteRule | null,
  callingAe: string,
  remoteAddress: string | null | undefined,
): AssociationDecision {
  if (!route) {
    return { accept: false, reason: "called-ae-not-recognized", message: "No project accepts this called AE title." };
  }
  const calling = normalizeAe(callingAe);
  if (route.allowedCallingAes.length && !route.allowedCallingAes.map(normalizeAe).includes(calling)) {
    return { accept: false, reason: "calling-ae-not-recognized", message: `Calling AE ${calling} is not on the project's allow-list.` };
  }
  const address = normalizeAddress(remoteAddress);
  if (route.allowedAddresses.length && !route.allowedAddresses.map(normalizeAddress).includes(address)) {
    return { accept: false, reason: "calling-address-not-allowed", message: "The sender's address is not on the project's allow-list." };
  }
  return { accept: true, projectId: route.projectId };
}
