// AE titles and the association policy of the C-STORE receiver: which project a called AE title
// routes to, and who may call it. Pure; the receiver asks server/intake for the route.
import { BlockList, isIP } from "node:net";
import { z } from "zod";

/** PS3.5 AE VR: up to 16 characters, no backslash or control characters; leading/trailing spaces are not significant. */
export const aeTitleSchema = z
  .string()
  .trim()
  .min(1, "An AE title needs at least one character.")
  .max(16, "An AE title is at most 16 characters (DICOM PS3.5).")
  .regex(/^[\x20-\x5b\x5d-\x7e]+$/, "An AE title may hold printable ASCII except the backslash.")
  .transform((s) => s.toUpperCase());

/**
 * A called AE title a project receives on (an AE route): a PS3.5 AE title without spaces inside.
 * PS3.5 permits embedded spaces, but they make look-alikes ("BRAIN MRI" beside "BRAIN_MRI") and
 * many senders' configurations (command lines, PACS consoles, config files) split or trim on them;
 * since Atrium chooses these titles, it keeps them to one word. Calling AE titles on allow-lists
 * belong to the senders and follow PS3.5 as it is (aeTitleSchema).
 */
export const calledAeTitleSchema = aeTitleSchema.refine((s) => !s.includes(" "), {
  message: "An AE title Atrium receives on may not contain spaces (DICOM allows them, but senders often split or trim on them). Use _ instead, e.g. BRAIN_MRI.",
});

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

/**
 * Whether `address` is one of `allowed`: exact addresses (IPv4 or IPv6; IPv4-mapped IPv6 compares as
 * IPv4) or CIDR ranges (`10.1.0.0/16`, `fd00::/8`). An entry that is neither is ignored.
 */
export function addressAllowed(allowed: readonly string[], address: string | null | undefined): boolean {
  const a = normalizeAddress(address);
  const family = isIP(a);
  if (!family) return false;
  const list = new BlockList();
  for (const entry of allowed) {
    const [net, bits] = entry.trim().split("/");
    const n = normalizeAddress(net);
    const f = isIP(n);
    if (!f) continue;
    if (bits === undefined) list.addAddress(n, f === 4 ? "ipv4" : "ipv6");
    else if (/^\d{1,3}$/.test(bits)) list.addSubnet(n, Number(bits), f === 4 ? "ipv4" : "ipv6");
  }
  return list.check(a, family === 4 ? "ipv4" : "ipv6");
}

/**
 * Who may call the site AE title (ATRIUM_SITE_CALLING_AETS / ATRIUM_SITE_CALLING_ADDRESSES): with
 * empty lists anyone; otherwise the calling AE title must be on its list (when set) and the address
 * on its list (when set).
 */
export function decideSiteCaller(
  allow: { callingAes: readonly string[]; addresses: readonly string[] },
  callingAe: string,
  remoteAddress: string | null | undefined,
): { accept: true } | { accept: false; reason: "calling-ae-not-recognized" | "calling-address-not-allowed"; message: string } {
  const calling = normalizeAe(callingAe);
  if (allow.callingAes.length && !allow.callingAes.map(normalizeAe).includes(calling)) {
    return { accept: false, reason: "calling-ae-not-recognized", message: `Calling AE ${calling} may not send to the site AE title (ATRIUM_SITE_CALLING_AETS).` };
  }
  if (allow.addresses.length && !addressAllowed(allow.addresses, remoteAddress)) {
    return { accept: false, reason: "calling-address-not-allowed", message: "The sender's address may not send to the site AE title (ATRIUM_SITE_CALLING_ADDRESSES)." };
  }
  return { accept: true };
}
