// Path parameters of the DICOMweb routes.
import { jsonError } from "@/server/http/access";

/** A UID: digits and dots, at most 64 characters (PS3.5 §9.1; leading zeros tolerated, as some senders write them). */
export const UID_PATTERN = /^[0-9]+(\.[0-9]+)*$/;

export function studyUidParam(raw: string): { ok: true; uid: string } | { ok: false; response: Response } {
  let uid: string;
  try {
    uid = decodeURIComponent(raw);
  } catch {
    uid = "";
  }
  if (uid.length > 64 || !UID_PATTERN.test(uid)) {
    return { ok: false, response: jsonError(400, "The Study Instance UID in the URL is not a valid UID (digits and dots, at most 64 characters).") };
  }
  return { ok: true, uid };
}
